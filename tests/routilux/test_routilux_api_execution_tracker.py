"""ExecutionTracker, as the routilux 0.10 reference describes it."""

from __future__ import annotations

from routilux_sample_routines import Recorder, Source
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import ExecutionTracker, Flow, JobState
from routilux.execution_tracker import ExecutionTracker as ModuleTracker


def test_signatures() -> None:
    assert ModuleTracker is ExecutionTracker
    assert_signature(ExecutionTracker.__init__, ("flow_id", ""))
    assert_signature(
        ExecutionTracker.record_routine_start, ("routine_id", REQUIRED), ("params", None)
    )
    assert_signature(
        ExecutionTracker.record_routine_end,
        ("routine_id", REQUIRED), ("status", "completed"), ("result", None), ("error", None),
    )  # fmt: skip
    assert_signature(
        ExecutionTracker.record_event,
        ("source_routine_id", REQUIRED), ("event_name", REQUIRED), ("target_routine_id", None),
        ("data", None),
    )  # fmt: skip
    assert_signature(ExecutionTracker.get_routine_performance, ("routine_id", REQUIRED))
    assert_signature(ExecutionTracker.get_flow_performance)


def test_manual_recording_and_performance() -> None:
    tracker = ExecutionTracker("f")
    assert tracker.flow_id == "f" and tracker.get_routine_performance("r") is None
    tracker.record_routine_start("r", {"x": 1})
    tracker.record_routine_end("r", "completed", result=1)
    tracker.record_routine_start("r")
    tracker.record_routine_end("r", "failed", error="boom")
    tracker.record_event("r", "out", "s", {"x": 1})
    perf = tracker.get_routine_performance("r")
    assert perf is not None and perf["total_executions"] == 2 and perf["success_rate"] == 0.5
    flow_perf = tracker.get_flow_performance()
    assert flow_perf["total_routines"] == 1 and flow_perf["total_events"] == 1
    assert flow_perf["total_execution_time"] >= 0 and flow_perf["avg_routine_time"] >= 0
    copy = ExecutionTracker()
    copy.deserialize(tracker.serialize())
    assert copy.get_routine_performance("r")["runs"] == 2  # type: ignore[index]
    assert copy.events[0].targets == ["s"]


def test_every_routine_of_a_job_is_tracked() -> None:
    with Flow() as flow:
        flow.add_routine(Source(), "src")
        flow.add_routine(Recorder(), "rec")
        flow.connect("src", "out", "rec", "in")
        job = flow.execute("src")
        assert JobState.wait_for_completion(flow, job, timeout=5)
        assert flow.execution_tracker is job.execution_tracker
    assert set(job.execution_tracker.routine_executions) == {"src", "rec"}


def test_0_10_dict_views_of_runs_and_events() -> None:
    tracker = ExecutionTracker("f")
    tracker.record_routine_start("r")
    tracker.record_routine_end("r", "completed")
    tracker.record_event("r", "out", "s")
    run = tracker.routine_executions["r"][0]
    assert run["status"] == "completed" and run.get("execution_time") is not None
    assert "start_time" in run
    assert tracker.event_flow[0]["target_routine_id"] == "s"
    perf = tracker.get_routine_performance("r")
    assert perf is not None and perf["avg_execution_time"] >= 0
