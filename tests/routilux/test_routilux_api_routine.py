"""Routine, as the routilux 0.10 reference describes it."""

from __future__ import annotations

from typing import Any

import pytest
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import (
    ErrorHandler,
    ErrorStrategy,
    ExecutionContext,
    Flow,
    JobState,
    Routine,
    Slot,
)
from routilux.errors import ExecutionContextError
from routilux.routine import ExecutionContext as RoutineModuleContext


class Echo(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self.define_slot("trigger", handler=self.run)
        self.define_event("out", ["value"])

    def run(self, **kwargs: Any) -> None:
        self.seen.append(self.get_execution_context())
        self.emit("out", **kwargs)


def test_signatures() -> None:
    assert_signature(Routine.__init__)
    assert_signature(
        Routine.define_slot, ("name", REQUIRED), ("handler", None), ("merge_strategy", "override")
    )
    assert_signature(Routine.define_event, ("name", REQUIRED), ("output_params", None))
    assert_signature(Routine.emit, ("event_name", REQUIRED), ("flow", None), ("**kwargs", REQUIRED))
    assert_signature(Routine.get_slot, ("name", REQUIRED))
    assert_signature(Routine.get_event, ("name", REQUIRED))
    assert_signature(Routine.set_config, ("**kwargs", REQUIRED))
    assert_signature(Routine.get_config, ("key", REQUIRED), ("default", None))
    assert_signature(Routine.config)
    assert_signature(Routine.set_error_handler, ("error_handler", REQUIRED))
    assert_signature(Routine.get_error_handler)
    assert_signature(Routine.set_as_optional, ("strategy", None))
    assert_signature(
        Routine.set_as_critical, ("max_retries", 3), ("retry_delay", 1.0), ("retry_backoff", 2.0)
    )
    assert_signature(Routine.get_execution_context)
    assert_signature(Routine.emit_deferred_event, ("event_name", REQUIRED), ("**kwargs", REQUIRED))
    assert_signature(Routine.send_output, ("output_type", REQUIRED), ("**data", REQUIRED))
    assert_signature(Routine.serialize)
    assert_signature(Routine.deserialize, ("data", REQUIRED), ("registry", None))
    assert RoutineModuleContext is ExecutionContext
    assert ExecutionContext._fields == ("flow", "job_state", "routine_id")


def test_id_slots_events_and_lookups() -> None:
    routine = Echo()
    assert routine._id == hex(id(routine))
    slot = routine.get_slot("trigger")
    assert isinstance(slot, Slot) and slot.routine is routine
    assert routine.get_slot("nope") is None and routine.get_event("nope") is None
    assert routine.get_event("out").output_params == ["value"]  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        routine.define_slot("trigger")
    with pytest.raises(ValueError):
        routine.define_event("out")
    with pytest.raises(ValueError):
        routine.emit("nope")
    assert {"_id", "_config", "_error_handler", "_slots", "_events"} <= set(
        routine.fields_to_serialize
    )


def test_config_is_a_plain_dict_and_config_returns_a_copy() -> None:
    routine = Echo()
    routine.set_config(a=1)
    routine.set_config(b=2)
    copy = routine.config()
    copy["a"] = 99
    assert routine.get_config("a") == 1 and routine.get_config("zz", "d") == "d"
    assert routine.config() == {"a": 1, "b": 2}


def test_optional_and_critical_shortcuts() -> None:
    routine = Echo()
    routine.set_as_optional()
    handler = routine.get_error_handler()
    assert handler is not None
    assert (handler.strategy, handler.is_critical) == (ErrorStrategy.CONTINUE, False)
    routine.set_as_optional(ErrorStrategy.SKIP)
    assert routine.get_error_handler().strategy is ErrorStrategy.SKIP  # type: ignore[union-attr]
    routine.set_as_critical(max_retries=2, retry_delay=0.5, retry_backoff=3.0)
    handler = routine.get_error_handler()
    assert handler is not None and handler.strategy is ErrorStrategy.RETRY
    assert (handler.max_retries, handler.retry_delay, handler.retry_backoff) == (2, 0.5, 3.0)
    assert handler.is_critical
    routine.set_error_handler(ErrorHandler())
    assert routine.get_error_handler().strategy is ErrorStrategy.STOP  # type: ignore[union-attr]


def test_execution_context_inside_and_outside() -> None:
    routine = Echo()
    assert routine.get_execution_context() is None
    with Flow() as flow:
        flow.add_routine(routine, "echo")
        job = flow.execute("echo", {"value": 1})
        context = routine.seen[0]
        assert context == (flow, job, "echo")
        assert context.routine_id == "echo"
        assert routine._current_flow is flow


def test_deferred_events_and_outputs_need_a_job() -> None:
    routine = Echo()
    with pytest.raises(RuntimeError):
        routine.emit_deferred_event("out", value=1)
    with pytest.raises(ExecutionContextError):
        routine.send_output("log", text="x")


def test_legacy_emit_without_flow_calls_connected_slots_now() -> None:
    source, target = Echo(), Echo()
    got: list[Any] = []
    slot = target.define_slot("in", handler=lambda value: got.append(value))
    source.get_event("out").connect(slot, {"value": "value"})  # type: ignore[union-attr]
    source.emit("out", value=5)
    assert got == [5]


def test_extract_input_data_rules() -> None:
    extract = Routine._extract_input_data
    assert extract("d") == "d"
    assert extract(data=1) == 1
    assert extract(None, only=3) == 3
    assert extract(None, a=1, b=2) == {"a": 1, "b": 2}
    assert extract() == {}


def test_call_is_a_deprecated_no_op() -> None:
    with pytest.warns(DeprecationWarning):
        Echo()(x=1)


def test_serialize_round_trip_with_added_fields() -> None:
    routine = Echo()
    routine.set_config(limit=3)
    routine.counter = 7  # type: ignore[attr-defined]
    routine.add_serializable_fields(["counter"])
    data = routine.serialize()
    assert data["_config"] == {"limit": 3} and data["counter"] == 7
    assert data["_slots"]["trigger"]["handler"]["method_name"] == "run"
    copy = Echo()
    copy.add_serializable_fields(["counter"])
    copy.deserialize(data)
    assert copy.get_config("limit") == 3 and copy.counter == 7  # type: ignore[attr-defined]
    assert copy._id == routine._id
    assert copy.get_slot("trigger").handler == copy.run  # type: ignore[union-attr]
    assert JobState  # imported for the reference surface
