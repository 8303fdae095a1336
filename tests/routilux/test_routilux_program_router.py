"""Program 4: a ticket triage router using each condition kind, saved and reloaded."""

from __future__ import annotations

import json
from typing import Any

from serilux import register_serializable

from routilux import ConditionalRouter, Flow, JobState, Routine


def is_vip(ticket: dict[str, Any]) -> bool:
    """A named condition function (restorable when this module is allowed)."""
    return ticket.get("customer") == "vip"


@register_serializable
class ProgramFourInbox(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("ticket", ["data"])

    def start(self, tickets: list[dict[str, Any]]) -> None:
        for ticket in tickets:
            self.emit("ticket", data=ticket)


@register_serializable
class ProgramFourQueue(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("in", handler=self.take)

    def take(self, data: dict[str, Any], route: str) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        ctx.job_state.append_to_shared_log({"id": data["id"], "route": route})


def build() -> Flow:
    router = ConditionalRouter()
    router.set_config(threshold=100)
    router.add_route("vip", is_vip)
    router.add_route("outage", lambda t: t.get("kind") == "outage")
    router.add_route("billing", {"kind": "billing", "amount": lambda a: a > 0})
    router.add_route("large", "data.get('amount', 0) > config.get('threshold', 0)")
    router.set_config(default_route="general")
    flow = Flow(flow_id="triage", execution_strategy="sequential")
    flow.add_routine(ProgramFourInbox(), "inbox")
    flow.add_routine(router, "router")
    flow.connect("inbox", "ticket", "router", "input")
    for name in ("vip", "outage", "billing", "large", "general"):
        flow.add_routine(ProgramFourQueue(), f"q_{name}")
        flow.connect("router", name, f"q_{name}", "in")
    return flow


TICKETS = [
    {"id": 1, "customer": "vip", "kind": "outage"},
    {"id": 2, "kind": "outage"},
    {"id": 3, "kind": "billing", "amount": 20},
    {"id": 4, "kind": "refund", "amount": 500},
    {"id": 5, "kind": "question"},
]
EXPECTED = [(1, "vip"), (2, "outage"), (3, "billing"), (4, "large"), (5, "general")]


def triage(flow: Flow) -> list[tuple[int, str]]:
    job = flow.execute("inbox", {"tickets": TICKETS})
    assert JobState.wait_for_completion(flow, job, timeout=10) and job.status == "completed"
    flow.shutdown()
    return [(e["id"], e["route"]) for e in job.get_shared_log()]


def test_each_condition_kind_before_and_after_saving() -> None:
    original = build()
    saved = json.loads(json.dumps(original.serialize()))
    assert triage(original) == EXPECTED
    restored = Flow().deserialize(saved, allow_modules=[__name__])
    assert triage(restored) == EXPECTED
