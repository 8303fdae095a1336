"""Runs one built-in routine in a flow and collects what each of its events emitted."""

from __future__ import annotations

from typing import Any

from routilux import Flow, JobState, Routine


class Collector(Routine):
    """Records every message of its ``in`` slot."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.define_slot("in", handler=self.take)

    def take(self, **kwargs: Any) -> None:
        self.messages.append(kwargs)


class Feeder(Routine):
    """Entry routine: emits ``out`` with its trigger message."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=lambda **kw: self.emit("out", **kw))
        self.define_event("out")


def run_builtin(routine: Routine, slot: str, **message: Any) -> dict[str, list[dict[str, Any]]]:
    """Sends ``message`` to ``routine``'s ``slot``; returns messages per event name."""
    collectors: dict[str, Collector] = {}
    with Flow() as flow:
        flow.add_routine(Feeder(), "feed")
        flow.add_routine(routine, "builtin")
        flow.connect("feed", "out", "builtin", slot)
        for name in routine.events:
            collectors[name] = Collector()
            flow.add_routine(collectors[name], f"c_{name}")
            flow.connect("builtin", name, f"c_{name}", "in")
        job = flow.execute("feed", message)
        assert JobState.wait_for_completion(flow, job, timeout=10)
        assert job.status == "completed", job.error
    return {name: c.messages for name, c in collectors.items()}
