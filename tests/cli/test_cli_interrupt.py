"""Ctrl-C during a PARALLEL step: the first stops dispatching and saves what arrives, the second
exits at once; the closing line names the workflow, and resume runs only what did not finish."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

GATED = """
import time
from pathlib import Path


def gated(state, context, **kwargs):
    with open("runs.log", "a") as log:
        log.write(context.step_name + "\\n")
    Path(f"started-{context.step_name}").touch()
    while not Path("release").exists():
        time.sleep(0.02)
    return {"a": 1} if context.step_name == "t1" else {"b": 2}
"""

GATED_YAML = """
workflow_type: Gated
initial_state_model: quick.models.QuickState
steps:
  - name: Fan
    type: PARALLEL
    tasks:
      - {name: t1, function_path: quick.gated.gated}
      - {name: t2, function_path: quick.gated.gated}
      - {name: t3, function_path: quick.gated.gated}
"""


def _start(project: Path) -> subprocess.Popen[str]:
    (project / "quick" / "gated.py").write_text(GATED.lstrip())
    (project / "quick_config" / "gated.yaml").write_text(textwrap.dedent(GATED_YAML).lstrip())
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    env.update(COLUMNS="200", NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8")
    argv = [sys.executable, "-m", "ruvon.cli.main", "run", "Gated", "--data", '{"name": "x"}']
    argv += ["--config-dir", "quick_config", "--workers", "1"]
    process = subprocess.Popen(
        argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(project / "started-t1", process)
    return process


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    """Wait (bounded) until the task has started; fail if the process ended or never got there."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def _runs(project: Path) -> list[str]:
    return (project / "runs.log").read_text().split()


def test_first_ctrl_c_saves_running_results_and_resume_runs_only_the_rest(
    project: Path, ruvon: Any
) -> None:
    process = _start(project)
    watchdog = threading.Timer(60, process.kill)  # a lost signal fails the test instead of hanging
    watchdog.start()
    try:
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        first = process.stderr.readline()  # the handler has run: nothing new is dispatched
        assert "Press Ctrl-C again to exit now" in first, first
        (project / "release").touch()  # the running task finishes after the interrupt
        out, err = process.communicate(timeout=60)
    finally:
        watchdog.cancel()
    assert process.returncode == 130, out + err
    match = re.search(r"stopped at step 'Fan'.*Continue with: ruvon resume (\S+)", err)
    assert match, err
    workflow_id = match.group(1)
    assert workflow_id in out  # the real id, as printed when the workflow started
    assert _runs(project) == ["t1"]  # no task was dispatched after the interrupt

    resumed = ruvon("resume", workflow_id, *ruvon.quick, "--workers", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert ruvon.state(resumed.stdout)["a"] == 1
    assert sorted(_runs(project)) == ["t1", "t2", "t3"]  # t1's saved result was reused


def test_second_ctrl_c_exits_at_once_while_a_task_still_runs(project: Path) -> None:
    process = _start(project)
    process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        process.send_signal(signal.SIGINT)  # the task never ends: only the second press ends it
        time.sleep(0.2)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, out + err
    assert "exiting now" in err and "ruvon resume " in err
    assert not (project / "release").exists() and _runs(project) == ["t1"]
