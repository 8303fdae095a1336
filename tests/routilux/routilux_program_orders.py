"""A small routilux 0.10-style program: orders are priced, then paused and resumed.

Run as ``python routilux_program_orders.py start DIR`` (builds the flow, runs it
until a handler pauses the job, saves flow and job into DIR) and then
``python routilux_program_orders.py resume DIR`` in another process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from serilux import register_serializable

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine


@register_serializable
class OrderSource(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.trigger = self.define_slot("trigger", handler=self.start)
        self.order = self.define_event("order", ["order_id", "amount"])

    def start(self, orders: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        for order in orders or []:
            self.emit("order", **order)


@register_serializable
class OrderPricer(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("order", handler=self.price)
        self.define_event("priced", ["order_id", "total"])
        self.set_config(tax=0.2, pause_after=None)

    def price(self, order_id: str, amount: float) -> None:
        total = round(amount * (1 + self.get_config("tax")), 2)
        self.emit("priced", order_id=order_id, total=total)
        ctx = self.get_execution_context()
        if ctx is not None and order_id == self.get_config("pause_after"):
            ctx.flow.pause(ctx.job_state, reason=f"paused after {order_id}")


@register_serializable
class OrderBook(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("priced", handler=self.book)

    def book(self, order_id: str, total: float) -> None:
        ctx = self.get_execution_context()
        assert ctx is not None
        booked = ctx.job_state.get_shared_data("booked", [])
        ctx.job_state.update_shared_data("booked", [*booked, [order_id, total]])


def build() -> Flow:
    flow = Flow(flow_id="orders", execution_strategy="sequential")
    flow.add_routine(OrderSource(), "source")
    pricer = OrderPricer()
    pricer.set_config(pause_after="o2")
    flow.add_routine(pricer, "pricer")
    flow.add_routine(OrderBook(), "book")
    flow.connect("source", "order", "pricer", "order")
    flow.connect("pricer", "priced", "book", "priced")
    flow.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))
    return flow


def start(directory: Path) -> None:
    flow = build()
    orders = [{"order_id": f"o{i}", "amount": 10.0 * i} for i in range(1, 5)]
    job = flow.execute("source", entry_params={"orders": orders})
    JobState.wait_for_completion(flow, job, timeout=10)  # returns once the job is paused
    (directory / "flow.json").write_text(json.dumps(flow.serialize()), encoding="utf-8")
    job.save(str(directory / "job.json"))
    flow.shutdown(wait=False)


def resume(directory: Path) -> None:
    flow = Flow()
    flow.deserialize(json.loads((directory / "flow.json").read_text(encoding="utf-8")))
    job = JobState.load(str(directory / "job.json"))
    flow.resume(job)
    JobState.wait_for_completion(flow, job, timeout=10)
    flow.shutdown()
    result = {"status": str(job.status.value), "booked": job.get_shared_data("booked")}
    (directory / "result.json").write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    (start if sys.argv[1] == "start" else resume)(Path(sys.argv[2]))
