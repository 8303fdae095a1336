"""Program 3: a pipeline of built-in routines, saved and restored."""

from __future__ import annotations

import json
from typing import Any

from serilux import register_serializable

from routilux import (
    ConditionalRouter,
    DataFlattener,
    DataTransformer,
    DataValidator,
    Flow,
    JobState,
    ResultExtractor,
    Routine,
    TextClipper,
)


@register_serializable
class ProgramThreeReply(Routine):
    """Entry: an LLM-style reply with a JSON block."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=lambda text: self.emit("reply", data=text))
        self.define_event("reply", ["data"])


@register_serializable
class ProgramThreeSink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("in", handler=self.keep)

    def keep(self, **kwargs: Any) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log({"from": ctx.routine_id, **kwargs})


def build() -> Flow:
    flow = Flow(flow_id="builtins")
    flow.add_routine(ProgramThreeReply(), "reply")
    flow.add_routine(ResultExtractor(), "extract")
    transformer = DataTransformer()
    transformer.set_config(transformation_map={"name": ["strip_whitespace", "uppercase"]})
    flow.add_routine(transformer, "transform")
    validator = DataValidator()
    validator.set_config(rules={"score": "is_number"}, required_fields=["name", "score"])
    flow.add_routine(validator, "validate")
    router = ConditionalRouter()
    router.set_config(routes=[("pass", "data['score'] >= 50")], default_route="fail")
    flow.add_routine(router, "route")
    flow.add_routine(DataFlattener(), "flatten")
    clipper = TextClipper()
    clipper.set_config(max_length=5)
    flow.add_routine(clipper, "clip")
    flow.add_routine(ProgramThreeSink(), "passed")
    flow.add_routine(ProgramThreeSink(), "failed")
    flow.add_routine(ProgramThreeSink(), "invalid")
    flow.connect("reply", "reply", "extract", "input")
    flow.connect("extract", "output", "transform", "input", {"extracted_result": "data"})
    flow.connect("transform", "output", "validate", "input", {"transformed_data": "data"})
    flow.connect("validate", "valid", "route", "input", {"validated_data": "data"})
    flow.connect("validate", "invalid", "invalid", "in")
    flow.connect("route", "pass", "flatten", "input")
    flow.connect("flatten", "output", "passed", "in")
    flow.connect("route", "fail", "clip", "input", {"data": "text"})
    flow.connect("clip", "output", "failed", "in")
    return flow


def run(flow: Flow, reply: str) -> list[dict[str, Any]]:
    job = flow.execute("reply", {"text": reply})
    assert JobState.wait_for_completion(flow, job, timeout=10)
    assert job.status == "completed", job.error
    return job.get_shared_log()


def test_pipeline_routes_each_kind_of_reply_and_survives_a_round_trip() -> None:
    original = build()
    restored = Flow().deserialize(json.loads(json.dumps(original.serialize())))
    for flow in (original, restored):
        good = run(flow, 'Sure:\n```json\n{"name": " ada ", "score": 91, "meta": {"v": 2}}\n```')
        assert good[0]["from"] == "passed"
        assert good[0]["flattened_data"] == {"name": "ADA", "score": 91, "meta.v": 2}
        low = run(flow, '{"name": "bob", "score": 10}')
        assert low[0]["from"] == "failed" and low[0]["was_clipped"] is True
        bad = run(flow, '{"name": "eve"}')
        assert bad[0]["from"] == "invalid"
        assert bad[0]["errors"] == ["Required field 'score' is missing."]
        flow.shutdown()
