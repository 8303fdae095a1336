"""Bad input gives errors that name what exists and how to fix it."""

from __future__ import annotations

from typing import Any

import pytest
from routilux_sample_routines import Recorder, Source

from routilux import Flow, RoutiluxError, Routine
from routilux.errors import (
    DefinitionError,
    DuplicateNameError,
    UnknownEventError,
    UnknownRoutineError,
    UnknownSlotError,
)


def two_routines(make_flow: Any) -> Flow:
    flow = make_flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Recorder(), "rec")
    return flow


def test_connect_unknown_routine(make_flow: Any) -> None:
    flow = two_routines(make_flow)
    with pytest.raises(UnknownRoutineError) as info:
        flow.connect("src", "out", "missing", "in")
    message = str(info.value)
    assert "has no routine named 'missing'" in message
    assert "'rec', 'src'" in message and "add_routine" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, RoutiluxError)


def test_connect_unknown_event_and_slot(make_flow: Any) -> None:
    flow = two_routines(make_flow)
    with pytest.raises(UnknownEventError, match=r"routine 'src' \(Source\) has no event named "):
        flow.connect("src", "output", "rec", "in")
    with pytest.raises(UnknownSlotError, match=r"the slots that exist are 'in'\."):
        flow.connect("src", "out", "rec", "input")


def test_duplicate_routine_id_and_object(make_flow: Any) -> None:
    flow = two_routines(make_flow)
    with pytest.raises(DuplicateNameError, match="already has a routine named 'src'"):
        flow.add_routine(Source(), "src")
    routine = flow.routines["rec"]
    with pytest.raises(DefinitionError, match="create a new instance"):
        flow.add_routine(routine, "rec2")
    with pytest.raises(DefinitionError, match="needs a Routine instance"):
        flow.add_routine(object(), "x")  # type: ignore[arg-type]


def test_duplicate_slot_and_event_names() -> None:
    routine = Recorder()
    with pytest.raises(DuplicateNameError, match="already has a slot named 'in'"):
        routine.define_slot("in")
    with pytest.raises(DuplicateNameError, match="already has an event named 'out'"):
        routine.define_event("out")
    assert isinstance(DuplicateNameError("slot", "x", "r", []), ValueError)


def test_execute_unknown_entry_or_without_trigger(make_flow: Any) -> None:
    flow = two_routines(make_flow)
    with pytest.raises(UnknownRoutineError, match="no routine named 'nope'"):
        flow.execute("nope")
    # As in 0.10, an entry without a ``trigger`` slot gives a failed job, not an exception.
    job = flow.execute("rec")
    assert job.status == "failed"
    assert job.error is not None and "define_slot('trigger'" in job.error
    assert isinstance(UnknownRoutineError("routine", "x", "f", []), ValueError)


def test_emit_unknown_event() -> None:
    with pytest.raises(UnknownEventError, match="the events that exist are 'out'"):
        Source().emit("nope")


def test_invalid_flow_arguments() -> None:
    with pytest.raises(DefinitionError, match="'sequential' or 'concurrent'"):
        Flow(execution_strategy="parallel")
    with pytest.raises(DefinitionError, match="max_workers must be a positive integer"):
        Flow(max_workers=0)
    with pytest.raises(DefinitionError, match="execution_timeout must be a positive"):
        Flow(execution_timeout=0)
    flow = Flow()
    with pytest.raises(DefinitionError, match="'sequential' or 'concurrent'"):
        flow.set_execution_strategy("fast")
    flow.shutdown()


def test_pause_without_any_job(make_flow: Any) -> None:
    flow = make_flow()
    with pytest.raises(RoutiluxError, match="has not run any job yet"):
        flow.pause()


def test_handler_binding_error_is_handled_by_strategy(make_flow: Any) -> None:
    class Needy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.run)

        def run(self, a: int, b: int) -> None:
            pass

    from routilux import JobState

    flow = make_flow()
    flow.add_routine(Needy(), "needy")
    job = flow.execute("needy", {"a": 1})
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert job.status == "failed"
    assert "HandlerBindingError" in (job.error or "") and "needs ['b']" in (job.error or "")
