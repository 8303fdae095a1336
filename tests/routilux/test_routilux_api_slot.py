"""Slot, as the routilux 0.10 reference describes it."""

from __future__ import annotations

from typing import Any

import pytest
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import ErrorHandler, ErrorStrategy, Event, JobState, Routine, Slot


def test_signatures() -> None:
    assert_signature(
        Slot.__init__,
        ("name", ""),
        ("routine", None),
        ("handler", None),
        ("merge_strategy", "override"),
    )
    assert_signature(Slot.connect, ("event", REQUIRED), ("param_mapping", None))
    assert_signature(Slot.disconnect, ("event", REQUIRED))
    assert_signature(Slot.receive, ("data", REQUIRED), ("job_state", None), ("flow", None))
    assert_signature(Slot.call_handler, ("data", REQUIRED), ("propagate_exceptions", False))
    assert_signature(Slot.serialize)
    assert_signature(Slot.deserialize, ("data", REQUIRED), ("registry", None))


def test_no_argument_slot_and_connect_both_sides() -> None:
    slot, event = Slot(), Event("e")
    assert (slot.name, slot.routine, slot.handler, slot.merge_strategy) == (
        "",
        None,
        None,
        "override",
    )
    slot.connect(event)
    assert event.connected_slots == [slot] and slot.connected_events == [event]
    slot.disconnect(event)
    assert event.connected_slots == [] and slot.connected_events == []


def test_receive_merges_on_the_slot_outside_a_job() -> None:
    got: list[Any] = []
    slot = Slot("s", handler=lambda **kw: got.append(kw), merge_strategy="append")
    slot.receive({"x": 1})
    slot.receive({"x": 2})
    assert got == [{"x": [1]}, {"x": [1, 2]}]
    assert slot._data == {"x": [1, 2]}


def test_receive_with_a_job_keeps_merge_state_in_the_job() -> None:
    got: list[Any] = []
    slot = Slot("s", handler=lambda **kw: got.append(kw), merge_strategy="append")
    first, second = JobState("f"), JobState("f")
    slot.receive({"x": 1}, job_state=first)
    slot.receive({"x": 2}, job_state=second)
    assert got == [{"x": [1]}, {"x": [2]}]
    assert slot._data == {}


def test_callable_merge_strategy() -> None:
    got: list[Any] = []
    slot = Slot("s", handler=lambda total: got.append(total),
                merge_strategy=lambda old, new: {"total": old.get("total", 0) + new["n"]})  # fmt: skip
    slot.receive({"n": 2})
    slot.receive({"n": 3})
    assert got == [2, 5]


def test_receive_applies_the_routine_error_strategy() -> None:
    class Boom(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0
            self.slot = self.define_slot("s", handler=self.fail)

        def fail(self, **kwargs: Any) -> None:
            self.calls += 1
            raise OSError("down")

    routine = Boom()
    with pytest.raises(OSError):
        routine.slot.receive({})  # no handler anywhere: STOP re-raises
    routine.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
    routine.slot.receive({})  # logged
    routine.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0))
    routine.calls = 0
    with pytest.raises(OSError):
        routine.slot.receive({})
    assert routine.calls == 3


def test_binding_rules() -> None:
    got: list[Any] = []
    Slot("s", handler=lambda data: got.append(data)).call_handler({"a": 1})
    Slot("s", handler=lambda a: got.append(a)).call_handler({"a": 1, "b": 2})
    Slot("s", handler=lambda zz: got.append(zz)).call_handler({"a": 1})
    Slot("s", handler=lambda a, b=0: got.append((a, b))).call_handler({"a": 1, "c": 3})
    assert got == [{"a": 1}, 1, {"a": 1}, (1, 0)]


def test_serialize_refers_to_methods_by_name() -> None:
    class Holder(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("in", handler=self.handle)

        def handle(self, **kwargs: Any) -> None:
            pass

    holder = Holder()
    data = holder.get_slot("in").serialize()  # type: ignore[union-attr]
    assert data["handler"]["callable_type"] == "method"
    assert data["handler"]["method_name"] == "handle"
    other = Holder()
    slot = Slot("in", other)
    slot.deserialize(data)
    assert slot.handler == other.handle
