"""`ruvon resume`/`retry` reuse the executor a workflow was started with, unless told otherwise."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

WHERE = """
import threading
from pathlib import Path


def where(state, context, **kwargs):
    with open("where.log", "a") as log:
        log.write(threading.current_thread().name + "\\n")
    if not Path("fixed.marker").exists():
        raise RuntimeError("not fixed yet")
    return {"a": 1}
"""

WHERE_YAML = """
workflow_type: Where
initial_state_model: quick.models.QuickState
steps:
  - name: Fan
    type: PARALLEL
    tasks:
      - {name: w, function_path: quick.where.where}
"""


@pytest.mark.parametrize(
    ("started", "override", "expected"),
    [
        (["--executor", "sync"], [], "MainThread"),  # recorded: sync runs tasks inline
        ([], [], "ruvon-task"),  # recorded: the default thread pool
        ([], ["--executor", "sync"], "MainThread"),  # an explicit --executor wins
    ],
)
def test_retry_uses_the_recorded_executor_unless_overridden(
    project: Path, ruvon: Any, started: list[str], override: list[str], expected: str
) -> None:
    (project / "quick" / "where.py").write_text(WHERE.lstrip())
    (project / "quick_config" / "where.yaml").write_text(textwrap.dedent(WHERE_YAML).lstrip())
    failed = ruvon("run", "Where", "--data", '{"name": "x"}', *ruvon.quick, *started)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    workflow_id = ruvon.workflow_id(failed.stdout)
    (project / "fixed.marker").touch()
    log = project / "where.log"
    log.write_text("")
    done = ruvon("retry", workflow_id, *ruvon.quick, *override)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().split()[0].startswith(expected)
