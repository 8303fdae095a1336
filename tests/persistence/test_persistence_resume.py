"""Kill a workflow process in the middle of a PARALLEL step (SIGKILL), resume it in a new one.

Checked: no task whose COMPLETED record was saved before the kill runs again; tasks that had
started but not finished run twice (at-least-once); the final state equals that of an
uninterrupted run. The recovery time (process start to the first resumed task) is printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import persistence_flows as flows
import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

HERE = Path(__file__).resolve().parent
KILL_AFTER_LINES = 10  # with 4 workers, at least 6 of them have finished by then
HANG_GUARD_SECONDS = 60  # only stops a hung test; nothing is asserted about time


def _spawn(mode: str, kind: str, target: str, workflow_id: str, tmp: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "RUVON_TASK_LOG": str(tmp / "tasks.log"),
    }
    args = [mode, kind, target, workflow_id, str(tmp / "config")]
    with (tmp / f"{mode}.stderr").open("w") as stderr:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "persistence_flows", *args],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def _lines(path: Path) -> list[tuple[str, float]]:
    if not path.exists():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines() if "\t" in line]
    return [(name, float(at)) for name, at in rows]


async def _uninterrupted_state(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RUVON_SLEEP_SCALE", "0")
    monkeypatch.delenv("RUVON_TASK_LOG", raising=False)
    workflow = await WorkflowBuilder(config_dir=config_dir).create_workflow(
        "ResumeFlow",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutor(),
        initial_data={"job": "resume-test"},
    )
    assert await workflow.run_to_completion() == "COMPLETED"
    return workflow.state.model_dump(mode="json")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_sigkilled_parallel_step_resumes_without_rerunning_finished_tasks(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if kind == "sqlite":
        target = str(tmp_path / "ruvon.db")
    else:
        target = request.getfixturevalue("postgres_dsn")
    flows.write_config(tmp_path / "config")
    task_log = tmp_path / "tasks.log"
    workflow_id = f"resume-{kind}"

    first = _spawn("start", kind, target, workflow_id, tmp_path)
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while len(_lines(task_log)) < KILL_AFTER_LINES:
        assert first.poll() is None, (tmp_path / "start.stderr").read_text()
        assert time.monotonic() < deadline, "the first process never started enough tasks"
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()  # type: ignore[union-attr]
    lines_before = len(_lines(task_log))
    started_before = {name for name, _ in _lines(task_log)}

    store = flows.make_store(kind, target)
    try:
        saved = await store.load_task_results(workflow_id, flows.PARALLEL_STEP)
        killed = await store.load_workflow(workflow_id)
    finally:
        await store.close()
    completed = {name for name, record in saved.items() if record.status == "COMPLETED"}
    assert (killed.status, killed.current_step) == ("ACTIVE", 1)
    assert killed.state["prepared"] is True
    assert completed <= started_before
    assert completed, "no task record was saved before the kill; nothing to check"
    assert 0 < len(started_before) < flows.TASKS, "kill came too late to test anything"

    spawned_at = time.time()
    second = _spawn("resume", kind, target, workflow_id, tmp_path)
    out, _ = second.communicate(timeout=HANG_GUARD_SECONDS)
    assert second.returncode == 0, (tmp_path / "resume.stderr").read_text()
    resumed = json.loads(out)

    runs = Counter(name for name, _ in _lines(task_log))
    for i in range(flows.TASKS):
        name = flows.task_key(i)
        assert runs[name] == int(name in started_before) + int(name not in completed), name
    assert resumed["status"] == "COMPLETED"
    assert resumed["state"] == await _uninterrupted_state(tmp_path / "config", monkeypatch)

    first_resumed = min(at for name, at in _lines(task_log)[lines_before:])
    after = flows.make_store(kind, target)
    try:
        final = await after.load_workflow(workflow_id)
        assert await after.load_task_results(workflow_id, flows.PARALLEL_STEP) == {}
    finally:
        await after.close()
    assert (final.status, final.state) == ("COMPLETED", resumed["state"])
    print(
        f"\n[{kind}] killed with {len(completed)} of {flows.TASKS} tasks saved COMPLETED and "
        f"{len(started_before) - len(completed)} in flight; recovery time (resume process start "
        f"to first resumed task): {(first_resumed - spawned_at) * 1000:.0f} ms"
    )
