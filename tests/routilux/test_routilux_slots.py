"""Slot argument binding and merge strategies."""

from __future__ import annotations

from typing import Any

import pytest
from routilux_sample_routines import Recorder, keep_larger

from routilux import JobState, Routine, Slot
from routilux.errors import DefinitionError, HandlerBindingError


def test_kwargs_handler_gets_every_key() -> None:
    got: list[dict[str, Any]] = []
    slot = Slot("s", handler=lambda **kw: got.append(kw))
    slot.call_handler({"a": 1, "b": 2})
    assert got == [{"a": 1, "b": 2}]


def test_single_data_parameter_gets_whole_dict() -> None:
    got: list[Any] = []

    def handler(data: Any) -> None:
        got.append(data)

    Slot("s", handler=handler).call_handler({"data": 5, "other": 6})
    assert got == [{"data": 5, "other": 6}]


def test_single_other_parameter_gets_its_key_or_whole_dict() -> None:
    got: list[Any] = []

    def handler(value: Any) -> None:
        got.append(value)

    slot = Slot("s", handler=handler)
    slot.call_handler({"value": 7, "x": 1})
    slot.call_handler({"x": 1})
    assert got == [7, {"x": 1}]


def test_several_parameters_get_matching_keys_and_defaults() -> None:
    got: list[tuple[Any, ...]] = []

    def handler(a: Any, b: Any, c: Any = "default") -> None:
        got.append((a, b, c))

    slot = Slot("s", handler=handler)
    slot.call_handler({"a": 1, "b": 2, "ignored": 3})
    assert got == [(1, 2, "default")]
    with pytest.raises(HandlerBindingError, match=r"needs \['b'\]"):
        slot.call_handler({"a": 1}, propagate_exceptions=True)
    assert slot.call_handler({"a": 1}) is None  # 0.10 default: logged, not raised


def test_no_parameter_handler_and_no_handler() -> None:
    calls: list[int] = []
    Slot("s", handler=lambda: calls.append(1)).call_handler({"x": 1})
    assert calls == [1]
    assert Slot("s").call_handler({"x": 1}) is None


def test_bound_method_handler_like_seed_processor() -> None:
    class Processor(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[Any, ...]] = []
            self.slot = self.define_slot("data_input", handler=self.process_data)

        def process_data(self, data: dict[str, Any], source: str, timestamp: float) -> None:
            self.seen.append((data, source, timestamp))

    processor = Processor()
    processor.slot.call_handler({"data": {"k": 1}, "source": "api", "timestamp": 1.5})
    assert processor.seen == [({"k": 1}, "api", 1.5)]


def test_merge_override_append_and_callable() -> None:
    override = Slot("o")
    assert override.merge({"a": 1}, {"b": 2}) == {"b": 2}
    append = Slot("a", merge_strategy="append")
    state = append.merge(None, {"x": 1})
    state = append.merge(state, {"x": 2, "y": 3})
    assert state == {"x": [1, 2], "y": [3]}
    custom = Slot("c", merge_strategy=keep_larger)
    state = custom.merge(None, {"value": 3})
    assert custom.merge(state, {"value": 1}) == {"value": 3}
    assert custom.merge(state, {"value": 9}) == {"value": 9}


def test_bad_merge_strategy_is_rejected() -> None:
    with pytest.raises(DefinitionError, match="'override', 'append' or a callable"):
        Slot("s", merge_strategy="concat")


def test_merge_function_must_return_dict() -> None:
    slot = Slot("s", merge_strategy=lambda old, new: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(HandlerBindingError, match="must return a dict"):
        slot.merge(None, {"a": 1})


class Burst(Routine):
    """Emits ``out`` three times with n = 0, 1, 2."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("out")

    def run(self) -> None:
        for n in range(3):
            self.emit("out", n=n)


def test_append_accumulates_within_one_job_only(make_flow: Any) -> None:
    flow = make_flow()
    recorder = Recorder(merge_strategy="append")
    flow.add_routine(Burst(), "burst")
    flow.add_routine(recorder, "rec")
    flow.connect("burst", "out", "rec", "in")
    for _ in range(2):
        job = flow.execute("burst")
        assert JobState.wait_for_completion(flow, job, timeout=5)
        assert job.status == "completed"
    # Each job starts from scratch: the second run sees [0], [0, 1], [0, 1, 2] again.
    expected = [{"n": [0]}, {"n": [0, 1]}, {"n": [0, 1, 2]}]
    assert recorder.calls == expected + expected
    assert job.slot_states["rec.in"] == {"n": [0, 1, 2]}


def test_override_handler_gets_newest_message(make_flow: Any) -> None:
    flow = make_flow()
    recorder = Recorder()
    flow.add_routine(Burst(), "burst")
    flow.add_routine(recorder, "rec")
    flow.connect("burst", "out", "rec", "in")
    job = flow.execute("burst")
    assert JobState.wait_for_completion(flow, job, timeout=5)
    assert recorder.calls == [{"n": 0}, {"n": 1}, {"n": 2}]
