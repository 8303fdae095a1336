"""Connection, as the routilux 0.10 reference describes it."""

from __future__ import annotations

from typing import Any

from routilux_signature_kit import REQUIRED, assert_signature

from routilux import Connection, Event, Flow, Slot
from routilux.connection import Connection as ModuleConnection


def test_signatures() -> None:
    assert ModuleConnection is Connection
    assert_signature(
        Connection.__init__, ("source_event", None), ("target_slot", None), ("param_mapping", None)
    )
    assert_signature(Connection.activate, ("data", REQUIRED))
    assert_signature(Connection.disconnect)
    assert_signature(Connection.serialize)
    assert_signature(Connection.deserialize, ("data", REQUIRED))


def test_construction_links_both_sides_and_activate_maps() -> None:
    got: list[Any] = []
    event, slot = Event("e"), Slot("s", handler=lambda **kw: got.append(kw))
    connection = Connection(event, slot, {"x": "y"})
    assert event.connected_slots == [slot] and slot.connected_events == [event]
    connection.activate({"x": 1, "z": 2})
    assert got == [{"y": 1, "z": 2}]
    connection.disconnect()
    assert event.connected_slots == []
    empty = Connection()
    assert (empty.source_event, empty.target_slot, empty.param_mapping) == (None, None, {})


def test_flow_connections_serialize_routine_ids() -> None:
    from routilux_sample_routines import Recorder, Source

    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Recorder(), "rec")
    connection = flow.connect("src", "out", "rec", "in", {"a": "b"})
    data = connection.serialize()
    assert data["source_id"] == "src" and data["target_id"] == "rec"
    assert (data["event"], data["slot"], data["param_mapping"]) == ("out", "in", {"a": "b"})
    copy = Connection()
    copy.deserialize(data)
    assert (copy.source_id, copy.event, copy.target_id, copy.slot) == ("src", "out", "rec", "in")
    flow.shutdown()
