"""Pause, resume (also in another process), cancel, timeout and JobState save/load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from routilux_sample_routines import Flaky, Gate, Recorder, Source, kick

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState
from routilux.errors import FlowStateError, SerializationError
from routilux.job_state import JobStatus

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


def gated_flow(make_flow: Any, log_path: Path | None = None, **flow_kw: Any) -> tuple[Flow, Gate]:
    """``gate`` fans out to recorders r0..r2, each of which feeds ``sink``."""
    flow = make_flow(**flow_kw)
    gate = Gate()
    gate.set_config(fan_out=1)
    flow.add_routine(gate, "gate")
    sink = Recorder(merge_strategy="append")
    sink.set_config(name="sink", log_path=str(log_path) if log_path else None)
    flow.add_routine(sink, "sink")
    for index in range(3):
        recorder = Recorder()
        recorder.set_config(name=f"r{index}", log_path=str(log_path) if log_path else None)
        flow.add_routine(recorder, f"r{index}")
        flow.connect("gate", "out", f"r{index}", "in")
        flow.connect(f"r{index}", "out", "sink", "in")
    return flow, gate


def pause_while_gate_runs(flow: Flow, gate: Gate) -> JobState:
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    assert flow.pause(job, timeout=0) is False  # the gate is still running
    assert job.status == "paused"
    gate.release.set()
    assert flow.pause(job, timeout=5) is True  # waits for the gate to end
    return job


def test_pause_keeps_queued_tasks_and_resume_runs_them_once(make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow, execution_strategy="concurrent")
    job = pause_while_gate_runs(flow, gate)
    assert [t["routine_id"] for t in job.pending_tasks] == ["r0", "r1", "r2"]
    # As in 0.10, waiting returns for a paused job once none of its tasks runs.
    assert JobState.wait_for_completion(flow, job, timeout=0.05) is True
    assert set(job.routine_states) == {"kick", "gate"}
    flow.resume(job)
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.status == "completed"
    assert job.pending_tasks == []
    runs = job.execution_tracker.routine_executions
    assert {rid: len(r) for rid, r in runs.items()} == {
        "kick": 1,
        "gate": 1,
        "r0": 1,
        "r1": 1,
        "r2": 1,
        "sink": 3,
    }


class SelfPausing(Source):
    """Pauses its own job from inside the handler, then emits."""

    def __init__(self) -> None:
        super().__init__()
        self.done = threading.Event()
        self.paused_itself = False

    def run(self, **kwargs: Any) -> None:
        from routilux.execution_context import current_context

        context = current_context()
        assert context is not None
        self.paused_itself = context.flow.pause(context.job_state) is False
        self.emit("out", **kwargs)  # parked: the job is paused
        self.done.set()


def test_pause_from_inside_a_handler(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="concurrent")
    recorder = Recorder()
    source = SelfPausing()
    flow.add_routine(source, "src")
    flow.add_routine(recorder, "rec")
    flow.connect("src", "out", "rec", "in")
    job = flow.execute("src", {"x": 1})
    assert source.done.wait(5)
    assert source.paused_itself  # it did not wait for itself
    assert flow.pause(job, timeout=5)  # already paused: waits for the handler to end
    assert job.status == "paused"
    assert len(job.pending_tasks) == 1 and recorder.calls == []
    flow.resume(job)
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert recorder.calls == [{"x": 1}]


def test_pause_parks_delayed_retries(make_flow: Any) -> None:
    flow = make_flow()
    flaky = Flaky()
    flaky.set_config(fail_times=1)
    flaky.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, retry_delay=30, max_retries=1))
    flow.add_routine(flaky, "flaky")
    job = flow.execute(kick(flow, "flaky"))
    flow.pause(job)  # may land before or after the first attempt
    while not flaky.attempts:  # the first attempt always runs exactly once
        flow.resume(job)
        flow.pause(job)
    assert job.status == "paused"
    assert [t["retries_done"] for t in job.pending_tasks] == [1]
    flow.resume(job)  # the retry runs at once instead of after 30 s
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.status == "completed" and len(flaky.attempts) == 2


def test_resume_and_pause_reject_wrong_states(make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow)
    gate.release.set()
    job = flow.execute(kick(flow))
    assert JobState.wait_for_completion(flow, job, timeout=5)
    with pytest.raises(FlowStateError, match="not paused"):
        flow.resume(job)
    with pytest.raises(FlowStateError, match="Cannot pause"):
        flow.pause(job)


def test_cancel_drops_work_and_releases_waiters(make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow)
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    waiter_result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: waiter_result.append(JobState.wait_for_completion(flow, job, timeout=5))
    )
    waiter.start()
    flow.cancel(job)
    waiter.join(5)
    assert waiter_result == [True]
    assert job.status == "cancelled"
    gate.release.set()
    flow.shutdown(wait=True)
    assert set(job.routine_states) == {"kick", "gate"}  # the gate's emits were dropped


def test_cancel_a_paused_job(make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow)
    job = pause_while_gate_runs(flow, gate)
    flow.cancel(job)
    assert job.status == "cancelled" and job.pending_tasks == []
    assert JobState.wait_for_completion(flow, job, timeout=1)


def test_execution_timeout_fails_the_job(make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow, execution_timeout=0.05)
    job = flow.execute(kick(flow))
    assert JobState.wait_for_completion(flow, job, timeout=5)
    gate.release.set()
    assert job.status == "failed"
    assert job.error is not None
    assert job.error.startswith("ExecutionTimeoutError: ")
    assert "execution_timeout of 0.05 s" in job.error


def test_timeout_not_hit_by_a_fast_job(make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow, execution_timeout=5)
    gate.release.set()
    job = flow.execute(kick(flow))
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.status == "completed"


def test_job_state_save_and_load(tmp_path: Path, make_flow: Any) -> None:
    flow, gate = gated_flow(make_flow)
    gate.release.set()
    job = flow.execute(kick(flow))
    assert JobState.wait_for_completion(flow, job, timeout=5)
    job.update_shared_data("answer", 42)
    path = tmp_path / "job.json"
    job.save(path)
    loaded = JobState.load(path)
    assert loaded.to_dict() == job.to_dict()
    assert loaded.status is JobStatus.COMPLETED and loaded.status == "completed"
    assert [r.event_name for r in loaded.execution_history][:2] == ["start", "out"]
    assert JobState.wait_for_completion(flow, loaded, timeout=0)


def test_save_rejects_non_json_data(tmp_path: Path) -> None:
    job = JobState("flow")
    job.update_shared_data("lock", threading.Lock())
    with pytest.raises(SerializationError, match="cannot be saved as JSON"):
        job.save(tmp_path / "job.json")
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SerializationError, match=r"JobState\.save"):
        JobState.load(tmp_path / "bad.json")


RESUME_SCRIPT = """
import json, sys
import routilux_sample_routines  # saved flows name only classes defined in this process
from routilux import Flow, JobState
flow = Flow()
flow.deserialize(json.load(open(sys.argv[1])))
job = JobState.load(sys.argv[2])
flow.resume(job)
ok = JobState.wait_for_completion(flow, job, timeout=10)
flow.shutdown()
print(json.dumps({"ok": ok, "status": job.status.value, "strategy": flow.execution_strategy,
                  "max_workers": flow.max_workers,
                  "runs": sorted(r.routine_id for r in job.execution_tracker.routine_runs)}))
"""


def test_paused_job_resumes_in_another_process(tmp_path: Path, make_flow: Any) -> None:
    log = tmp_path / "calls.log"
    flow, gate = gated_flow(make_flow, log, execution_strategy="concurrent", max_workers=3)
    job = pause_while_gate_runs(flow, gate)
    (tmp_path / "flow.json").write_text(json.dumps(flow.serialize()), encoding="utf-8")
    job.save(tmp_path / "job.json")
    flow.shutdown()
    assert not log.exists()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RESUME_SCRIPT,
            str(tmp_path / "flow.json"),
            str(tmp_path / "job.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["status"] == "completed"
    assert (report["strategy"], report["max_workers"]) == ("concurrent", 3)
    assert report["runs"] == ["r0", "r1", "r2", "sink", "sink", "sink"]
    lines = sorted(log.read_text(encoding="utf-8").split())
    assert lines == ["r0", "r1", "r2", "sink", "sink", "sink"]  # each exactly once
