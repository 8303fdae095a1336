"""`ruvon run` exits once a PARALLEL step's timeout has fired, even while a task never returns."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

SLOW = """
import time


def never_returns(state, context, **kwargs):
    time.sleep(600)
    return {"a": 1}
"""

STUCK_YAML = """
workflow_type: Stuck
initial_state_model: quick.models.QuickState
steps:
  - name: Fan
    type: PARALLEL
    timeout_seconds: 0.3
    tasks:
      - {name: task_b, function_path: quick.tasks.task_b}
      - {name: stuck, function_path: quick.slow.never_returns}
"""


def test_run_reports_the_timeout_and_exits_while_a_task_still_runs(
    project: Path, ruvon: Any
) -> None:
    (project / "quick" / "slow.py").write_text(SLOW.lstrip())
    (project / "quick_config" / "stuck.yaml").write_text(textwrap.dedent(STUCK_YAML).lstrip())
    # The runner's own subprocess timeout (60 s) fails the test if the process hangs.
    done = ruvon("run", "Stuck", "--data", '{"name": "x"}', *ruvon.quick)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "did not finish within the step's timeout_seconds" in done.stdout + done.stderr
