"""JobState and ExecutionRecord, as the routilux 0.10 reference describes them."""

from __future__ import annotations

import queue
from datetime import datetime
from pathlib import Path

import pytest
from routilux_sample_routines import Source
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import ExecutionRecord, Flow, JobState, QueueOutputHandler
from routilux.errors import SerializationError
from routilux.job_state import ExecutionRecord as ModuleRecord
from routilux.job_state import JobState as ModuleJobState
from routilux.job_state import _ExecutionCompletionChecker


def test_signatures() -> None:
    assert ModuleJobState is JobState and ModuleRecord is ExecutionRecord
    assert_signature(JobState.__init__, ("flow_id", ""))
    assert_signature(JobState.update_routine_state, ("routine_id", REQUIRED), ("state", None))
    assert_signature(JobState.get_routine_state, ("routine_id", REQUIRED))
    assert_signature(
        JobState.record_execution,
        ("routine_id", REQUIRED),
        ("event_name", REQUIRED),
        ("data", REQUIRED),
    )
    assert_signature(JobState.get_execution_history, ("routine_id", None))
    assert_signature(JobState.save, ("filepath", REQUIRED))
    assert_signature(JobState.load, ("filepath", REQUIRED))
    assert_signature(JobState.serialize)
    assert_signature(JobState.deserialize, ("data", REQUIRED))
    assert_signature(
        JobState.add_deferred_event,
        ("routine_id", REQUIRED),
        ("event_name", REQUIRED),
        ("data", REQUIRED),
    )
    assert_signature(JobState.update_shared_data, ("key", REQUIRED), ("value", REQUIRED))
    assert_signature(JobState.get_shared_data, ("key", REQUIRED), ("default", None))
    assert_signature(JobState.append_to_shared_log, ("entry", REQUIRED))
    assert_signature(JobState.get_shared_log, ("filter_func", None))
    assert_signature(JobState.set_output_handler, ("handler", REQUIRED))
    assert_signature(
        JobState.send_output,
        ("routine_id", REQUIRED),
        ("output_type", REQUIRED),
        ("data", REQUIRED),
    )
    assert_signature(
        JobState.wait_for_completion,
        ("flow", REQUIRED), ("job_state", REQUIRED), ("timeout", None), ("stability_checks", 5),
        ("check_interval", 0.1), ("stability_delay", 0.05), ("progress_callback", None),
    )  # fmt: skip
    assert_signature(
        ExecutionRecord.__init__,
        ("routine_id", ""),
        ("event_name", ""),
        ("data", None),
        ("timestamp", None),
    )
    assert_signature(
        _ExecutionCompletionChecker.__init__,
        ("flow", REQUIRED), ("job_state", REQUIRED), ("stability_checks", 5),
        ("check_interval", 0.1), ("stability_delay", 0.05),
    )  # fmt: skip


def test_fields_status_and_timestamps() -> None:
    job = JobState()
    assert job.flow_id == "" and len(job.job_id) == 36 and job.status == "pending"
    assert isinstance(job.created_at, datetime) and isinstance(job.updated_at, datetime)
    for name in ["current_routine_id", "routine_states", "execution_history", "pause_points",
                 "pending_tasks", "deferred_events", "shared_data", "shared_log", "output_log"]:  # fmt: skip
        assert hasattr(job, name)
    job.status = "running"
    assert job.status == "running" and job.status.value == "running"
    job.status = "completed"
    assert JobState.wait_for_completion(Flow(), job, timeout=0)
    with pytest.raises(ValueError):
        job.status = "exploded"


def test_routine_states_history_shared_data_and_outputs() -> None:
    job = JobState("f")
    job.update_routine_state("r", {"status": "running"})
    job.update_routine_state("r", {"count": 2})
    assert job.get_routine_state("r") == {"status": "running", "count": 2}
    assert job.get_routine_state("nope") is None and job.current_routine_id == "r"
    job.record_execution("r", "out", {"x": 1})
    job.record_execution("s", "out", {"x": 2})
    assert [r.routine_id for r in job.get_execution_history()] == ["r", "s"]
    assert [r.data for r in job.get_execution_history("s")] == [{"x": 2}]
    assert isinstance(job.execution_history[0].timestamp, datetime)
    job.update_shared_data("k", 1)
    assert job.get_shared_data("k") == 1 and job.get_shared_data("z", 0) == 0
    job.append_to_shared_log({"msg": "a"})
    job.append_to_shared_log({"msg": "b"})
    assert [e["msg"] for e in job.get_shared_log(lambda e: e["msg"] == "b")] == ["b"]
    outputs: queue.Queue[dict[str, object]] = queue.Queue()
    job.set_output_handler(QueueOutputHandler(outputs))
    job.send_output("r", "progress", {"pct": 50})
    assert outputs.get_nowait()["data"] == {"pct": 50}
    assert job.output_log[0]["output_type"] == "progress"
    job.add_deferred_event("r", "later", {"a": 1})
    assert job.deferred_events == [{"routine_id": "r", "event_name": "later", "data": {"a": 1}}]


def test_save_load_and_serialize(tmp_path: Path) -> None:
    with Flow() as flow:
        flow.add_routine(Source(), "src")
        job = flow.execute("src", {"v": 1})
    job.update_shared_data("answer", 42)
    job.set_output_handler(QueueOutputHandler(queue.Queue()))
    path = tmp_path / "job.json"
    job.save(str(path))
    loaded = JobState.load(str(path))
    assert loaded.serialize() == job.serialize()
    assert loaded.output_handler is None and loaded.status == "completed"
    assert [r.event_name for r in loaded.execution_history] == ["start", "out"]
    assert loaded.execution_history[1].data == {"v": 1}
    copy = JobState()
    copy.deserialize(job.serialize())
    assert copy.job_id == job.job_id and copy.created_at == job.created_at
    with pytest.raises(SerializationError):
        JobState.load(str(tmp_path / "missing.json"))


def test_record_serialize_round_trip() -> None:
    record = ExecutionRecord("r", "error", {"error": "x"})
    data = record.serialize()
    assert data["_type"] == "ExecutionRecord"
    copy = ExecutionRecord()
    copy.deserialize(data)
    assert (copy.routine_id, copy.event_name, copy.data) == ("r", "error", {"error": "x"})
    assert copy.timestamp == record.timestamp


def test_progress_callback_and_checker() -> None:
    job = JobState("f")
    calls: list[tuple[int, int, str]] = []
    flow = Flow()
    assert not JobState.wait_for_completion(
        flow, job, timeout=0.01, progress_callback=lambda *a: calls.append(a)
    )
    checker = _ExecutionCompletionChecker(flow, job)
    assert not checker.is_complete() and not checker.check_with_stability()
    job.status = "failed"
    assert checker.is_complete()
    flow.shutdown()


def test_waiting_on_a_running_job_no_flow_runs_settles_it_from_routine_states() -> None:
    flow = Flow()
    ok, bad = JobState(flow.flow_id), JobState(flow.flow_id)
    for job in (ok, bad):
        job.status = "running"
        job.update_routine_state("a", {"status": "completed"})
    bad.update_routine_state("b", {"status": "failed"})
    assert JobState.wait_for_completion(flow, ok, timeout=1) and ok.status == "completed"
    assert JobState.wait_for_completion(flow, bad, timeout=1) and bad.status == "failed"
    flow.shutdown()
