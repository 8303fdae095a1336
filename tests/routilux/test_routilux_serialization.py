"""Flow serialize/deserialize round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from routilux_sample_routines import Recorder, Sleeper, Source, keep_larger

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState
from routilux.errors import SerializationError, UnsafeRestoreError


def build_flow(make_flow: Any) -> Flow:
    flow = make_flow(
        flow_id="orders", execution_strategy="concurrent", max_workers=7, execution_timeout=30
    )
    flow.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
    flow.add_routine(Source(), "src")
    first, second = Recorder(), Recorder()
    first.set_config(name="first")
    second.set_config(name="second")
    second.set_error_handler(
        ErrorHandler(ErrorStrategy.RETRY, max_retries=5, retryable_exceptions=(OSError,))
    )
    second.define_slot("extra", handler=second.receive, merge_strategy=keep_larger)
    flow.add_routine(first, "first")
    flow.add_routine(second, "second")
    # Both recorders have a slot "in" and an event "out": ids keep them apart.
    flow.connect("src", "out", "first", "in", param_mapping={"value": "v"})
    flow.connect("first", "out", "second", "in")
    return flow


def round_trip(flow: Flow) -> Flow:
    data = json.loads(json.dumps(flow.serialize()))
    new_flow = Flow()
    # keep_larger is a module function: restoring it needs its module allowed.
    assert new_flow.deserialize(data, allow_modules=["routilux_sample_routines"]) is new_flow
    return new_flow


def test_round_trip_preserves_everything(make_flow: Any) -> None:
    flow = build_flow(make_flow)
    new_flow = round_trip(flow)
    try:
        assert new_flow.serialize() == flow.serialize()
        assert new_flow.flow_id == "orders"
        assert (new_flow.execution_strategy, new_flow.max_workers) == ("concurrent", 7)
        assert new_flow.execution_timeout == 30
        second = new_flow.routines["second"]
        assert second.get_config("name") == "second"
        handler = second.get_error_handler()
        assert handler is not None and handler.max_retries == 5
        assert handler.retryable_exceptions == (OSError,)
        assert second.slots["extra"].merge_strategy is keep_larger
        assert new_flow.error_handler is not None
        assert new_flow.error_handler.strategy is ErrorStrategy.CONTINUE
    finally:
        new_flow.shutdown()


def test_restored_flow_runs_with_same_wiring(make_flow: Any) -> None:
    new_flow = round_trip(build_flow(make_flow))
    try:
        job = new_flow.execute("src", {"value": 1})
        assert JobState.wait_for_completion(new_flow, job, timeout=5)
        assert job.status == "completed"
        first = new_flow.routines["first"]
        second = new_flow.routines["second"]
        assert isinstance(first, Recorder) and isinstance(second, Recorder)
        assert first.calls == [{"v": 1}]
        assert second.calls == [{"v": 1}]
        ran = [r.routine_id for r in job.execution_tracker.routine_runs]
        assert ran == ["src", "first", "second"]
    finally:
        new_flow.shutdown()


def test_deserialize_replaces_existing_definition(make_flow: Any) -> None:
    flow = make_flow()
    flow.add_routine(Sleeper(), "old")
    flow.deserialize(build_flow(make_flow).serialize(), allow_modules=["routilux_sample_routines"])
    assert sorted(flow.routines) == ["first", "second", "src"]


def test_unimportable_class_is_a_clear_error(make_flow: Any) -> None:
    data = build_flow(make_flow).serialize()
    allow = ["routilux_sample_routines"]
    data["routines"]["src"]["class"] = "no_such_module_xyz:Source"
    with pytest.raises(UnsafeRestoreError, match=r"'no_such_module_xyz:Source'.*never imports"):
        Flow().deserialize(data, allow_modules=allow)
    data["routines"]["src"]["class"] = "routilux_sample_routines:Vanished"
    with pytest.raises(SerializationError, match="Vanished"):
        Flow().deserialize(data, allow_modules=allow)
    data["routines"]["src"]["class"] = "routilux_sample_routines:keep_larger"
    with pytest.raises(UnsafeRestoreError, match="keep_larger"):
        Flow().deserialize(data, allow_modules=allow)
    data["routines"]["src"]["class"] = "not an import path"
    with pytest.raises(UnsafeRestoreError, match="not an import path"):
        Flow().deserialize(data)


def test_malformed_data_is_a_clear_error() -> None:
    with pytest.raises(SerializationError, match=r"Flow\.serialize\(\)"):
        Flow().deserialize({"routines": {}})


def test_lambda_slot_outside_init_cannot_be_restored(make_flow: Any) -> None:
    flow = make_flow()
    recorder = Recorder()
    recorder.define_slot("late", handler=lambda **kw: None)
    flow.add_routine(recorder, "rec")
    with pytest.raises(SerializationError, match="handler of slot 'late'"):
        Flow().deserialize(flow.serialize())


def test_local_class_restores_only_where_it_is_defined(make_flow: Any) -> None:
    class Local(Source):
        pass

    flow = make_flow()
    flow.add_routine(Local(), "local")
    data = flow.serialize()
    assert type(Flow().deserialize(data).routines["local"]) is Local
    data["routines"]["local"]["class"] = data["routines"]["local"]["class"] + "Gone"
    with pytest.raises(UnsafeRestoreError, match="LocalGone"):
        Flow().deserialize(data)


def test_merge_strategy_given_to_init_survives(make_flow: Any) -> None:
    flow = make_flow()
    flow.add_routine(Recorder(merge_strategy="append"), "rec")
    restored = Flow().deserialize(flow.serialize())
    assert restored.routines["rec"].slots["in"].merge_strategy == "append"


def test_deserialize_refuses_a_flow_with_live_jobs(make_flow: Any) -> None:
    from routilux_sample_routines import Gate, kick

    from routilux.errors import FlowStateError

    flow = make_flow()
    gate = Gate()
    flow.add_routine(gate, "gate")
    job = flow.execute(kick(flow))
    assert gate.started.wait(5)
    with pytest.raises(FlowStateError, match="deserialize into a new Flow"):
        flow.deserialize(flow.serialize())
    gate.release.set()
    assert JobState.wait_for_completion(flow, job, timeout=5)
