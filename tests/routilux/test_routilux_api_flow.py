"""Flow, as the routilux 0.10 reference describes it (with DESIGN.md §2's fixes)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from routilux_sample_routines import Flaky, Gate, Recorder, Source, kick
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine
from routilux.flow import (
    SlotActivationTask,
    TaskPriority,
    completion,
    dependency,
    error_handling,
    event_loop,
    execution,
    serialization,
    state_management,
)
from routilux.flow.flow import Flow as ModuleFlow


def test_signatures() -> None:
    assert ModuleFlow is Flow
    assert_signature(
        Flow.__init__,
        ("flow_id", None), ("execution_strategy", "sequential"), ("max_workers", 5),
        ("execution_timeout", None),
    )  # fmt: skip
    assert_signature(Flow.set_execution_strategy, ("strategy", REQUIRED), ("max_workers", None))
    assert_signature(Flow.add_routine, ("routine", REQUIRED), ("routine_id", None))
    assert_signature(
        Flow.connect,
        ("source_routine_id", REQUIRED), ("source_event", REQUIRED),
        ("target_routine_id", REQUIRED), ("target_slot", REQUIRED), ("param_mapping", None),
    )  # fmt: skip
    assert_signature(Flow.set_error_handler, ("error_handler", REQUIRED))
    assert_signature(Flow.pause, ("job_state", None), ("reason", ""), ("checkpoint", None))
    assert_signature(Flow.resume, ("job_state", None))
    assert_signature(Flow.cancel, ("job_state", None), ("reason", ""))
    assert_signature(
        Flow.execute,
        ("entry_routine_id", REQUIRED), ("entry_params", None), ("execution_strategy", None),
        ("timeout", None),
    )  # fmt: skip
    assert_signature(Flow.wait_for_completion, ("timeout", None), ("job_state", None))
    assert_signature(Flow.shutdown, ("wait", True), ("timeout", None))
    assert_signature(Flow.serialize)
    assert_signature(Flow.deserialize, ("data", REQUIRED))
    assert {p.name: p.value for p in TaskPriority} == {"HIGH": 1, "NORMAL": 2, "LOW": 3}
    task = SlotActivationTask(Source().get_slot("trigger"), {"a": 1})  # type: ignore[arg-type]
    assert (task.priority, task.retry_count, task.job_state) == (TaskPriority.NORMAL, 0, None)
    for module, names in [
        (completion, ["ensure_event_loop_running"]),
        (dependency, ["build_dependency_graph", "get_ready_routines"]),
        (error_handling, ["get_error_handler_for_routine", "handle_task_error"]),
        (event_loop, ["start_event_loop", "event_loop", "execute_task", "enqueue_task",
                      "is_all_tasks_complete"]),
        (execution, ["execute_flow", "execute_sequential", "execute_concurrent"]),
        (serialization, ["serialize_flow", "deserialize_flow"]),
        (state_management, ["pause_flow", "wait_for_active_tasks", "serialize_pending_tasks",
                            "deserialize_pending_tasks", "resume_flow", "cancel_flow"]),
    ]:  # fmt: skip
        assert all(callable(getattr(module, name)) for name in names)


def test_defaults() -> None:
    flow = Flow()
    assert len(flow.flow_id) == 36 and flow.execution_timeout is None
    assert (flow.execution_strategy, flow.max_workers) == ("sequential", 1)
    assert Flow(execution_strategy="concurrent").max_workers == 5
    flow.set_execution_strategy("concurrent")
    assert flow.max_workers == 5
    flow.set_execution_strategy("concurrent", max_workers=3)
    assert flow.max_workers == 3
    flow.set_execution_strategy("sequential")
    assert flow.max_workers == 1
    with pytest.raises(ValueError):
        flow.set_execution_strategy("parallel")
    flow.shutdown()


def test_add_routine_defaults_to_the_routine_id_and_connect_checks_names() -> None:
    flow = Flow()
    source = Source()
    routine_id = flow.add_routine(source)
    assert routine_id == source._id and routine_id.startswith("0x")
    with pytest.raises(ValueError):
        flow.add_routine(Source(), routine_id)
    flow.add_routine(Recorder(), "rec")
    for args in [("nope", "out", "rec", "in"), (routine_id, "nope", "rec", "in"),
                 (routine_id, "out", "rec", "nope")]:  # fmt: skip
        with pytest.raises(ValueError):
            flow.connect(*args)
    with pytest.raises(ValueError):
        flow.execute("nope")
    flow.shutdown()


def test_execute_runs_the_entry_in_the_callers_thread() -> None:
    threads: list[threading.Thread] = []

    class Entry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot(
                "trigger", handler=lambda **kw: threads.append(threading.current_thread())
            )

    with Flow(execution_strategy="concurrent") as flow:
        flow.add_routine(Entry(), "entry")
        job = flow.execute("entry", execution_strategy="concurrent", timeout=5)
        assert threads == [threading.current_thread()]
        assert job.status == "completed"  # nothing queued: final on return


@pytest.mark.parametrize(
    ("strategy", "status"), [("stop", "failed"), ("continue", "completed"), ("skip", "completed")]
)
def test_entry_error_strategy_applies_before_execute_returns(strategy: str, status: str) -> None:
    with Flow() as flow:
        flaky = Flaky()
        flaky.set_error_handler(ErrorHandler(strategy))
        flow.add_routine(flaky, "flaky")
        job = flow.execute("flaky")
        assert job.status == status


def test_entry_retry_runs_again_in_the_callers_thread() -> None:
    with Flow() as flow:
        flaky = Flaky()
        flaky.set_config(fail_times=2)
        flaky.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, retry_delay=0.01))
        flow.add_routine(flaky, "flaky")
        job = flow.execute("flaky")
        assert len(flaky.attempts) == 3 and job.status == "completed"


def test_execution_timeout_is_enforced() -> None:
    flow = Flow(execution_timeout=0.05)
    gate = Gate()
    flow.add_routine(gate, "gate")
    job = flow.execute(kick(flow))
    assert JobState.wait_for_completion(flow, job, timeout=5)
    gate.release.set()
    assert job.status == "failed" and "ExecutionTimeoutError" in (job.error or "")
    flow.shutdown()


def test_pause_records_a_pause_point_and_checks_the_flow() -> None:
    flow = Flow()
    gate = Gate()
    gate.set_config(fan_out=0)
    flow.add_routine(gate, "gate")
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    gate.release.set()
    flow.pause(job, reason="maintenance", checkpoint={"step": 2})
    assert job.status == "paused"
    point = job.pause_points[-1]
    assert (point["reason"], point["checkpoint"]) == ("maintenance", {"step": 2})
    other = JobState("another-flow")
    with pytest.raises(ValueError):
        flow.pause(other)
    flow.resume(job)
    assert JobState.wait_for_completion(flow, job, timeout=5) and job.status == "completed"
    flow.shutdown()


def test_cancel_with_reason_and_deprecated_wait() -> None:
    flow = Flow()
    gate = Gate()
    flow.add_routine(gate, "gate")
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    flow.cancel(job, reason="user asked")
    assert job.status == "cancelled" and job.error == "user asked"
    gate.release.set()
    with pytest.warns(DeprecationWarning):
        assert flow.wait_for_completion(timeout=5, job_state=job)
    with pytest.warns(DeprecationWarning):
        assert flow.wait_for_completion(timeout=5)
    flow.shutdown(wait=True, timeout=5)


def test_deferred_events_are_emitted_first_on_resume() -> None:
    order: list[str] = []

    class Deferring(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.run)
            self.define_event("later")
            self.define_event("now")

        def run(self, **kwargs: Any) -> None:
            self.emit_deferred_event("later", tag="deferred")
            ctx = self.get_execution_context()
            assert ctx is not None
            ctx.flow.pause(ctx.job_state, reason="wait")
            self.emit("now", tag="queued")

    class Log(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("in", handler=lambda tag: order.append(tag))

    flow = Flow()
    flow.add_routine(Deferring(), "d")
    flow.add_routine(Log(), "log")
    flow.connect("d", "later", "log", "in")
    flow.connect("d", "now", "log", "in")
    job = flow.execute("d")
    assert job.status == "paused" and job.deferred_events[0]["event_name"] == "later"
    flow.resume(job)
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert order == ["deferred", "queued"]
    flow.shutdown()


def test_track_false_skips_per_event_bookkeeping_but_keeps_failures() -> None:
    with Flow(track=False) as flow:
        flow.add_routine(Source(), "src")
        flaky = Flaky()
        flaky.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
        flow.add_routine(flaky, "flaky")
        flow.connect("src", "out", "flaky", "trigger")
        job = flow.execute("src")
        assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.status == "completed"
    assert [r.event_name for r in job.execution_history] == ["error"]
    assert set(job.routine_states) == {"flaky"}


def test_self_loop_warns_and_history_is_capped(caplog: pytest.LogCaptureFixture) -> None:
    from routilux.job_records import MAX_HISTORY

    class Loop(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.run)
            self.define_event("again")

        def run(self, **kwargs: Any) -> None:
            n = kwargs.get("n", 0)
            if n < MAX_HISTORY + 500:
                self.emit("again", n=n + 1)

    with Flow() as flow:
        flow.add_routine(Loop(), "loop")
        flow.connect("loop", "again", "loop", "trigger")
        assert "connected to itself" in caplog.text
        job = flow.execute("loop")
        assert JobState.wait_for_completion(flow, job, timeout=60)
    assert job.status == "completed"
    assert len(job.execution_history) <= MAX_HISTORY
    assert job.execution_history[-1].data == {"n": MAX_HISTORY + 500}
    assert "keeps only the newest" in caplog.text


def test_dependency_helpers() -> None:
    flow = Flow()
    flow.add_routine(Source(), "a")
    flow.add_routine(Recorder(), "b")
    flow.connect("a", "out", "b", "in")
    graph = dependency.build_dependency_graph(flow.routines, flow.connections)
    assert graph == {"a": set(), "b": {"a"}}
    assert dependency.get_ready_routines(set(), graph, set()) == ["a"]
    assert dependency.get_ready_routines({"a"}, graph, set()) == ["b"]
    flow.shutdown()


def test_serialize_keeps_strategy_timeout_and_tracking() -> None:
    flow = Flow(flow_id="f", execution_strategy="concurrent", max_workers=4,
                execution_timeout=9.5, track=False)  # fmt: skip
    flow.add_routine(Source(), "src")
    data = flow.serialize()
    assert data["_type"] == "Flow" and data["track"] is False
    copy = Flow().deserialize(data)
    assert (copy.flow_id, copy.execution_strategy, copy.max_workers) == ("f", "concurrent", 4)
    assert (copy.execution_timeout, copy.track) == (9.5, False)
    flow.shutdown()
    copy.shutdown()


def test_enqueue_a_0_10_slot_activation_task() -> None:
    with Flow() as flow:
        recorder = Recorder()
        flow.add_routine(recorder, "rec")
        flow.add_routine(Gate(), "gate")
        gate_job = flow.execute(kick(flow))  # the gate keeps the job running
        assert gate_job.status == "running"
        task = SlotActivationTask(recorder.require_slot("in"), {"x": 1}, job_state=gate_job)
        event_loop.enqueue_task(task, flow)
        flow.routines["gate"].release.set()  # type: ignore[attr-defined]
        assert JobState.wait_for_completion(flow, gate_job, timeout=5)
    assert recorder.calls == [{"x": 1}]


def test_execute_task_runs_a_0_10_task_here_and_handle_task_error() -> None:
    with Flow() as flow:
        recorder = Recorder()
        flow.add_routine(recorder, "rec")
        flaky = Flaky()
        flow.add_routine(flaky, "flaky")
        job = JobState(flow.flow_id)
        event_loop.execute_task(
            SlotActivationTask(recorder.require_slot("in"), {"x": 2}, job_state=job), flow
        )
        assert recorder.calls == [{"x": 2}] and job.get_routine_state("rec") == {
            "status": "completed"
        }
        task = SlotActivationTask(flaky.require_slot("trigger"), {}, job_state=job)
        event_loop.execute_task(task, flow)  # default STOP: the job fails
        assert job.status == "failed" and "attempt 1 failed" in (job.error or "")
        flaky.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
        assert error_handling.handle_task_error(task, RuntimeError("x"), flow) is True
        other = JobState(flow.flow_id)
        flaky.set_error_handler(None)
        stop = SlotActivationTask(flaky.require_slot("trigger"), {}, job_state=other)
        assert error_handling.handle_task_error(stop, RuntimeError("y"), flow) is False
        assert other.status == "failed" and other.get_routine_state("flaky")["status"] == "failed"  # type: ignore[index]
        flow.job_state = job
        assert flow.job_state is job
