"""Event, as the routilux 0.10 reference describes it."""

from __future__ import annotations

from typing import Any

import pytest
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import Event, Flow, JobState, Routine, Slot


def test_signatures() -> None:
    assert_signature(Event.__init__, ("name", ""), ("routine", None), ("output_params", None))
    assert_signature(Event.connect, ("slot", REQUIRED), ("param_mapping", None))
    assert_signature(Event.disconnect, ("slot", REQUIRED))
    assert_signature(Event.emit, ("flow", None), ("**kwargs", REQUIRED))
    assert_signature(Event.serialize)
    assert_signature(Event.deserialize, ("data", REQUIRED), ("registry", None))


def test_defaults_and_connected_slots_list() -> None:
    event = Event()
    assert (event.name, event.routine, event.output_params, event.connected_slots) == (
        "",
        None,
        [],
        [],
    )
    first, second = Slot("a"), Slot("b")
    event.connect(first)
    event.connect(second, {"x": "y"})
    event.connect(first)  # no duplicates
    assert event.connected_slots == [first, second]
    event.disconnect(first)
    assert event.connected_slots == [second]


def test_emit_goes_through_the_routine_and_flow() -> None:
    class Src(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.out = self.define_event("out")
            self.define_slot("trigger", handler=lambda **kw: self.out.emit(**kw))

    class Sink(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.got: list[Any] = []
            self.define_slot("in", handler=lambda v: self.got.append(v))

    sink = Sink()
    with Flow() as flow:
        flow.add_routine(Src(), "src")
        flow.add_routine(sink, "sink")
        flow.connect("src", "out", "sink", "in")
        job = flow.execute("src", {"v": 4})
        assert JobState.wait_for_completion(flow, job, timeout=5)
    assert sink.got == [4]
    with pytest.raises(ValueError):
        Event("orphan").emit()


def test_serialize_round_trip() -> None:
    event = Event("done", None, ["a", "b"])
    data = event.serialize()
    assert data == {"_type": "Event", "name": "done", "output_params": ["a", "b"]}
    copy = Event()
    copy.deserialize(data)
    assert (copy.name, copy.output_params) == ("done", ["a", "b"])
