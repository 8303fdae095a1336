"""Sandbox benchmarks: a route condition and an HTTP URL template. Prints workload, baseline, ratio.

The baseline is the same computation written as Python in this process (a lambda over the model, an
f-string): what the check costs over no sandbox at all.

Run: python bench/bench_sandbox.py [--quick]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from pydantic import BaseModel

from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

CONDITION = "state.amount > 100 and state.tier in ['gold', 'silver'] and len(state.items) < 50"
TEMPLATE = "https://api.example.com/orders/{{ state.order_id }}/items?n={{ state.items|length }}"


class Order(BaseModel):
    order_id: str = "A-1"
    amount: int = 150
    tier: str = "gold"
    items: list[int] = list(range(20))
    notes: dict[str, str] = {"a": "b"}


def per_call_us(call: Callable[[], object], runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        call()
    return (time.perf_counter() - started) / runs * 1e6


def report(title: str, workload: str, ours: float, baseline: float) -> None:
    print(f"\n== {title}\n   workload: {workload}")
    print(f"   ruvon:    {ours:.1f} us per call\n   baseline: {baseline:.2f} us per call")
    print(f"   ratio:    {ours / baseline:.0f}x   (sandbox + plain-data conversion per call)")


def main() -> None:
    runs = 2_000 if "--quick" in sys.argv else 20_000
    state = Order()
    evaluator = SimpleExpressionEvaluator({"state": state})
    assert evaluator.evaluate(CONDITION) is True
    ours = per_call_us(lambda: evaluator.evaluate(CONDITION), runs)
    baseline = per_call_us(
        lambda: state.amount > 100 and state.tier in ["gold", "silver"] and len(state.items) < 50,
        runs,
    )
    report("route condition", f"{runs} evaluations of {CONDITION!r}", ours, baseline)

    engine = Jinja2TemplateEngine({"state": state})
    expected = f"https://api.example.com/orders/{state.order_id}/items?n={len(state.items)}"
    assert engine.render(TEMPLATE) == expected
    ours = per_call_us(lambda: engine.render(TEMPLATE), runs)
    baseline = per_call_us(
        lambda: f"https://api.example.com/orders/{state.order_id}/items?n={len(state.items)}",
        runs,
    )
    report("HTTP URL template", f"{runs} renders of {TEMPLATE!r}", ours, baseline)


if __name__ == "__main__":
    main()
