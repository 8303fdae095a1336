"""An orchestrator killed while Celery workers run its PARALLEL tasks: the resumed workflow collects.

A workflow on SQLite runs one PARALLEL step of 6 one-second tasks, one per message, on a worker
with 3 processes. Its process is SIGKILLed once 3 tasks have started. Checked: a new process that
resumes the workflow collects the results of the tasks that finished meanwhile instead of running
them again, and awaits the tasks still running instead of sending them again.

Also checked in process: chunk ids depend on the batch's run key, so another run of the same step
(a retry, a loop iteration) never takes an earlier run's results, and a run without ``resumed``
never takes a stale result left under its own ids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import pytest
from celery_support import REDIS_URL, Worker, redis_or_skip, start_worker, stop_worker
from core_kit import State

from ruvon.implementations.execution.celery import CeleryExecutor
from ruvon.providers.execution import ParallelBatch, TaskCall, TaskOutcome

pytestmark = [pytest.mark.celery, pytest.mark.redis]

TASKS = 6
HANG_GUARD_SECONDS = 60  # only stops a hung test; nothing is asserted about time

FLOW_MODULE = """\
import os
import time

from pydantic import BaseModel

LOG = {log!r}


class State(BaseModel):
{fields}


def _log(line):
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)


def _make(i):
    def task(state, context):
        _log(f"start t{{i}}")
        time.sleep(1.0)
        _log(f"end t{{i}}")
        return {{f"k{{i}}": i * 10 + 1}}

    return task


for _i in range({tasks}):
    globals()[f"t{{_i}}"] = _make(_i)
"""

FLOW_YAML = """\
workflow_type: CeleryResume
workflow_version: "1"
initial_state_model: celery_resume_flow.State
steps:
  - name: Fan
    type: PARALLEL
    timeout_seconds: 60
    tasks:
{tasks}
"""

DRIVER = """\
import asyncio
import json
import sys

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.celery import CeleryExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider


async def main(mode, db, workflow_id, config, broker, queue):
    builder = WorkflowBuilder(config_dir=config)
    store = SQLitePersistenceProvider(db)
    executor = CeleryExecutor(
        broker_url=broker, result_backend=broker, queue=queue, chunk_size=1
    )
    if mode == "start":
        workflow = await builder.create_workflow(
            "CeleryResume",
            persistence_provider=store,
            execution_provider=executor,
            initial_data={},
            workflow_id=workflow_id,
        )
    else:
        workflow = await builder.load_workflow(
            workflow_id, persistence_provider=store, execution_provider=executor
        )
    status = await workflow.run_to_completion()
    executor.close()
    await store.close()
    json.dump({"status": status.value, "state": workflow.state.model_dump(mode="json")}, sys.stdout)


asyncio.run(main(*sys.argv[1:7]))
"""


def _write_flow(tmp_path: Path) -> None:
    fields = "".join(f"    k{i}: int | None = None\n" for i in range(TASKS))
    module = FLOW_MODULE.format(log=str(tmp_path / "tasks.log"), fields=fields, tasks=TASKS)
    (tmp_path / "celery_resume_flow.py").write_text(module, encoding="utf-8")
    tasks = "".join(
        f"      - {{name: t{i}, function_path: celery_resume_flow.t{i}}}\n" for i in range(TASKS)
    )
    config = tmp_path / "config"
    config.mkdir()
    (config / "flow.yaml").write_text(FLOW_YAML.format(tasks=tasks), encoding="utf-8")
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")


def _spawn(mode: str, tmp_path: Path, workflow_id: str, worker: Worker) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    args = [mode, str(tmp_path / "db.sqlite"), workflow_id, str(tmp_path / "config")]
    with (tmp_path / f"{mode}.stderr").open("w") as stderr:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, str(tmp_path / "driver.py"), *args, worker.broker, worker.queue],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def _events(tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "tasks.log"
    if not path.exists():
        return []
    rows = [line.split(" ", 1) for line in path.read_text().splitlines() if " " in line]
    return [(kind, name) for kind, name in rows]


def _started(tmp_path: Path) -> list[str]:
    return [name for kind, name in _events(tmp_path) if kind == "start"]


def _ended(tmp_path: Path) -> list[str]:
    return [name for kind, name in _events(tmp_path) if kind == "end"]


def _wait_until_idle(tmp_path: Path, worker: Worker) -> None:
    """Until every started task has ended and none started for 1.5 s (the worker is idle)."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    quiet_since: float | None = None
    seen = -1
    while True:
        assert time.monotonic() < deadline, f"the worker never went idle:\n{worker.log_text()}"
        events = len(_events(tmp_path))
        if events != seen or len(_ended(tmp_path)) != len(_started(tmp_path)):
            seen, quiet_since = events, None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.5:
            return
        time.sleep(0.05)


@pytest.fixture
def resume_worker(tmp_path: Path) -> Any:
    """A prefork worker with 3 processes, allowed to run the flow module written into tmp_path."""
    redis_or_skip()
    _write_flow(tmp_path)
    worker = start_worker(
        ["celery_resume_flow"],
        broker=REDIS_URL,
        log=tmp_path / "worker.log",
        pythonpath=[tmp_path],
        concurrency=3,
    )
    yield worker
    stop_worker(worker)


@pytest.mark.slow
@pytest.mark.parametrize("wait", ["until_idle", "while_running"])
def test_a_resumed_workflow_collects_tasks_that_ran_while_its_orchestrator_was_dead(
    wait: str, tmp_path: Path, resume_worker: Worker
) -> None:
    workflow_id = f"celery-resume-{uuid.uuid4().hex[:8]}"
    first = _spawn("start", tmp_path, workflow_id, resume_worker)
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while len(_started(tmp_path)) < 3:
        assert first.poll() is None, (tmp_path / "start.stderr").read_text()
        assert time.monotonic() < deadline, "the worker never started 3 tasks"
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()  # type: ignore[union-attr]
    started_before = set(_started(tmp_path))
    assert len(started_before) < TASKS, "the kill came too late to test anything"
    if wait == "until_idle":
        _wait_until_idle(tmp_path, resume_worker)
        assert set(_ended(tmp_path)) == set(_started(tmp_path))

    second = _spawn("resume", tmp_path, workflow_id, resume_worker)
    out, _ = second.communicate(timeout=HANG_GUARD_SECONDS)
    assert second.returncode == 0, (tmp_path / "resume.stderr").read_text()
    resumed = json.loads(out)

    assert resumed["status"] == "COMPLETED"
    assert resumed["state"] == {f"k{i}": i * 10 + 1 for i in range(TASKS)}
    runs = Counter(_started(tmp_path))
    names = [f"t{i}" for i in range(TASKS)]
    assert set(runs) == set(names)
    if wait == "until_idle":
        # Every task ran while the orchestrator was dead or before; none ran again.
        assert runs == Counter(names), runs
    else:
        # Tasks running at the kill were awaited, not sent again. Tasks still queued at the kill
        # were sent again on resume, so they may run twice (steps are at-least-once).
        assert all(runs[name] == 1 for name in started_before), runs
        assert all(runs[name] <= 2 for name in names), runs


# -- in process: ids, run keys, stale results -------------------------------------------------


def _batch(run_key: str, item: int, *, resumed: bool, workflow_id: str) -> ParallelBatch:
    attempt, iteration = run_key.split("/")[:2]
    call = TaskCall(
        "Fan[0]", "celery_kit.square", kwargs={"item": item, "index": 0}, item=item, index=0
    )
    return ParallelBatch(
        workflow_id=workflow_id,
        workflow_type="Squares",
        step_name="Fan",
        state_model_path="core_kit.State",
        state=State(),
        tasks=[call],
        share_state=True,
        attempt=int(attempt),
        iteration=int(iteration),
        timeout=20,
        deadline=time.monotonic() + 20,
        resumed=resumed,
    )


def _started_run(
    executor: CeleryExecutor, batch: ParallelBatch
) -> AsyncGenerator[list[TaskOutcome], None]:
    """The executor's generator, to stop it as a dying caller would."""
    return cast(AsyncGenerator[list[TaskOutcome], None], executor.run_parallel(batch))


async def _value(executor: CeleryExecutor, batch: ParallelBatch) -> Any:
    outcomes = [o async for burst in executor.run_parallel(batch) for o in burst]
    assert [o.task_name for o in outcomes] == ["Fan[0]"]
    assert outcomes[0].ok, outcomes[0].error
    assert outcomes[0].result is not None
    return outcomes[0].result["value"]


async def test_runs_with_other_run_keys_or_not_resumed_never_take_earlier_results(
    celery_executor: CeleryExecutor,
) -> None:
    workflow_id = f"celery-keys-{uuid.uuid4().hex[:8]}"

    def batch(run_key: str, item: int, resumed: bool) -> ParallelBatch:
        return _batch(run_key, item, resumed=resumed, workflow_id=workflow_id)

    async def value(run_key: str, item: int, resumed: bool) -> Any:
        return await _value(celery_executor, batch(run_key, item, resumed))

    # Two loop iterations of the same step in one process: each runs its own task.
    assert await value("1/0/0", 2, False) == 4
    assert await value("1/1/0", 3, False) == 9

    # A caller that dies after the outcome arrived but before it took it: the result stays.
    crashed = _started_run(celery_executor, batch("2/0/0", 5, False))
    arrived = await crashed.__anext__()
    assert [o.result for o in arrived] == [{"value": 25, "index": 0}]
    await crashed.aclose()
    # A resumed run of that batch collects it without running the task (its item differs).
    assert await value("2/0/0", 6, True) == 25
    # Taken and resumed past: the result is forgotten, so a later resume runs the task.
    assert await value("2/0/0", 7, True) == 49

    # A stale result under the ids of a batch that is not resumed is never taken.
    crashed = _started_run(celery_executor, batch("3/0/0", 8, False))
    await crashed.__anext__()
    await crashed.aclose()
    assert await value("3/0/0", 9, False) == 81
    # Another retry attempt of a resumed step does not see other attempts' results either.
    assert await value("4/0/0", 10, True) == 100
