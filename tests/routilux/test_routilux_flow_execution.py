"""Running flows: strategies, completion, tracking, emit context, lifecycle."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from routilux_sample_routines import Gate, Recorder, Sleeper, Source, kick

from routilux import ExecutionTracker, Flow, JobState, Routine
from routilux.errors import ExecutionContextError, FlowStateError
from routilux.execution_tracker import RoutineRun


def fan_out(flow: Flow, count: int = 3, delay: float = 0.05) -> Recorder:
    """Source -> ``count`` sleepers -> one append recorder."""
    flow.add_routine(Source(), "src")
    sink = Recorder(merge_strategy="append")
    flow.add_routine(sink, "sink")
    for index in range(count):
        sleeper = Sleeper()
        sleeper.set_config(delay=delay, name=f"w{index}")
        flow.add_routine(sleeper, f"w{index}")
        flow.connect("src", "out", f"w{index}", "trigger")
        flow.connect(f"w{index}", "done", "sink", "in")
    return sink


def sleeper_runs(tracker: ExecutionTracker) -> list[RoutineRun]:
    return [r for r in tracker.routine_runs if r.routine_id.startswith("w")]


def overlaps(a: RoutineRun, b: RoutineRun) -> bool:
    assert a.end_time is not None and b.end_time is not None
    return a.start_time < b.end_time and b.start_time < a.end_time


def test_concurrent_fan_out_overlaps(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="concurrent", max_workers=5)
    sink = fan_out(flow)
    job = flow.execute("src")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.status == "completed"
    runs = sleeper_runs(job.execution_tracker)
    assert len(runs) == 3
    assert all(overlaps(a, b) for a in runs for b in runs if a is not b)
    assert sorted(sink.calls[-1]["name"]) == ["w0", "w1", "w2"]


def test_sequential_never_overlaps_and_keeps_fifo_order(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="sequential")
    fan_out(flow)
    job = flow.execute("src")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    runs = job.execution_tracker.routine_runs
    for earlier, later in itertools.pairwise(runs):
        assert earlier.end_time is not None and earlier.end_time <= later.start_time
    assert [r.routine_id for r in runs] == ["src", "w0", "w1", "w2", "sink", "sink", "sink"]


def test_wait_for_completion_returns_when_job_ends(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="concurrent")
    gate = Gate()
    gate.set_config(fan_out=0)
    flow.add_routine(gate, "gate")
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    assert JobState.wait_for_completion(flow, job, timeout=0.01) is False
    assert job.status == "running"
    gate.release.set()
    assert JobState.wait_for_completion(flow, job, timeout=5) is True
    assert job.status == "completed"


def test_tracker_records_every_routine_and_event(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="concurrent")
    fan_out(flow)
    job = flow.execute("src", {"payload": 1})
    assert JobState.wait_for_completion(flow, job, timeout=5)
    tracker = flow.execution_tracker
    assert tracker is job.execution_tracker
    assert set(tracker.routine_executions) == {"src", "w0", "w1", "w2", "sink"}
    assert all(r.status == "completed" and r.duration is not None for r in tracker.routine_runs)
    assert [e.event for e in tracker.events].count("done") == 3
    assert tracker.events[0].targets == ["w0.trigger", "w1.trigger", "w2.trigger"]
    perf = tracker.get_flow_performance()
    assert perf["runs"] == 7 and perf["completed"] == 7 and perf["success_rate"] == 1.0
    assert perf["total_events"] == 7 and perf["total_time"] > 0
    assert perf["routines"]["sink"]["runs"] == 3
    assert tracker.get_routine_performance("w0")["runs"] == 1
    assert job.routine_states["w1"]["status"] == "completed"
    history = [(r.routine_id, r.event_name) for r in job.execution_history]
    # As in 0.10, the entry's start is recorded as a pseudo event "start".
    assert history[:2] == [("src", "start"), ("src", "out")] and len(history) == 8
    assert tracker.to_dict()["job_id"] == job.job_id


def test_param_mapping_renames_keys(make_flow: Any) -> None:
    flow = make_flow()
    recorder = Recorder()
    flow.add_routine(Source(), "src")
    flow.add_routine(recorder, "rec")
    flow.connect("src", "out", "rec", "in", param_mapping={"a": "renamed"})
    job = flow.execute("src", {"a": 1, "b": 2})
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert recorder.calls == [{"renamed": 1, "b": 2}]


def test_emit_outside_a_job(make_flow: Any) -> None:
    source = Source()
    source.emit("out", x=1)  # 0.10 legacy mode: no flow, no connected slot, nothing happens
    flow = make_flow()
    recorder = Recorder()
    flow.add_routine(recorder, "rec")
    with pytest.raises(ExecutionContextError, match="does not contain it"):
        source.emit("out", flow=flow, x=1)
    flow.add_routine(source, "src")
    flow.connect("src", "out", "rec", "in")
    source.emit("out", flow=flow, x=1)  # as in 0.10: runs as a job of its own
    job = flow.job_state
    assert job is not None
    assert JobState.wait_for_completion(flow, job, timeout=5) and job.status == "completed"
    assert recorder.calls == [{"x": 1}]


def test_strategy_switch_at_run_time(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="sequential")
    fan_out(flow)
    job = flow.execute("src")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    runs = sleeper_runs(job.execution_tracker)
    assert not any(overlaps(a, b) for a in runs for b in runs if a is not b)

    flow.set_execution_strategy("concurrent", max_workers=4)
    assert (flow.execution_strategy, flow.max_workers) == ("concurrent", 4)
    job = flow.execute("src")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    runs = sleeper_runs(job.execution_tracker)
    assert all(overlaps(a, b) for a in runs for b in runs if a is not b)

    flow.set_execution_strategy("sequential")
    job = flow.execute("src")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    runs = sleeper_runs(job.execution_tracker)
    assert not any(overlaps(a, b) for a in runs for b in runs if a is not b)


def test_switch_to_concurrent_while_a_job_runs(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="sequential")
    gate = Gate()
    gate.set_config(fan_out=1)
    flow.add_routine(gate, "gate")
    for index in range(3):
        sleeper = Sleeper()
        sleeper.set_config(delay=0.05)
        flow.add_routine(sleeper, f"w{index}")
        flow.connect("gate", "out", f"w{index}", "trigger")
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    flow.set_execution_strategy("concurrent", max_workers=3)
    gate.release.set()
    assert JobState.wait_for_completion(flow, job, timeout=5)
    runs = sleeper_runs(job.execution_tracker)
    assert all(overlaps(a, b) for a in runs for b in runs if a is not b)


def test_many_jobs_share_one_flow(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="concurrent", max_workers=4)
    sink = fan_out(flow, delay=0.0)
    jobs = [flow.execute("src") for _ in range(20)]
    assert all(JobState.wait_for_completion(flow, job, timeout=5) for job in jobs)
    assert all(job.status == "completed" for job in jobs)
    assert len(sink.calls) == 60


def test_context_manager_waits_and_shuts_down() -> None:
    with Flow(execution_strategy="concurrent") as flow:
        sink = fan_out(flow)
        job = flow.execute("src")
    assert job.status == "completed"
    assert len(sink.calls) == 3
    with pytest.raises(FlowStateError, match="was shut down"):
        flow.execute("src")


def test_context_manager_on_error_does_not_hang() -> None:
    gate = Gate()
    with pytest.raises(RuntimeError, match="boom"), Flow() as flow:
        flow.add_routine(gate, "gate")
        job = flow.execute(kick(flow))
        assert gate.started.wait(5)
        raise RuntimeError("boom")
    assert job.status == "cancelled"
    gate.release.set()


def test_shutdown_waits_for_running_jobs(make_flow: Any) -> None:
    flow = make_flow(execution_strategy="concurrent")
    fan_out(flow)
    job = flow.execute("src")
    flow.shutdown(wait=True)
    assert job.status == "completed"
    assert not [t for t in threading.enumerate() if t.name.startswith(f"routilux-{flow.flow_id}")]


class Counter(Routine):
    """Uses shared_data through the execution context."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)

    def run(self, **kwargs: Any) -> None:
        from routilux.execution_context import current_context

        context = current_context()
        assert context is not None
        context.job_state.update_shared_data("seen_by", context.routine_id)


def test_handlers_reach_their_job_through_the_context(make_flow: Any) -> None:
    flow = make_flow()
    flow.add_routine(Counter(), "counter")
    job = flow.execute("counter")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.shared_data == {"seen_by": "counter"}
