"""Workflows for the persistence tests; importable by name, also in subprocesses.

``ResumeFlow``: one STANDARD step, then a PARALLEL step of 20 tasks. Each task appends
``name<TAB>start time`` to the file ``$RUVON_TASK_LOG`` when it starts, sleeps 0.05-0.45 s (times
``$RUVON_SLEEP_SCALE``) and returns a key of its own.

``FastOrders``: the parallel_orders example without sleeps or prints.

Run as a script to drive ``ResumeFlow`` in a process of its own::

    python -m persistence_flows start|resume sqlite|postgres <db path or DSN> <workflow id> <config dir>
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, create_model

from ruvon.models import StepContext

TASKS = 20
PARALLEL_STEP = "Fan_Out"


def task_key(i: int) -> str:
    return f"task_{i:02d}"


ResumeState: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "ResumeState",
    __module__=__name__,
    job=(str, ...),
    prepared=(bool, False),
    **{task_key(i): (float | None, None) for i in range(TASKS)},
)


def prepare(state: Any, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {"prepared": True}


def _make_task(i: int) -> Any:
    def task(state: Any, context: StepContext, **kwargs: Any) -> dict[str, Any]:
        log = os.environ.get("RUVON_TASK_LOG")
        if log:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, f"{context.step_name}\t{time.time():.6f}\n".encode())
            finally:
                os.close(fd)
        time.sleep((0.05 + (i % 5) * 0.1) * float(os.environ.get("RUVON_SLEEP_SCALE", "1")))
        return {task_key(i): i * i + 0.5}

    task.__name__ = task.__qualname__ = task_key(i)
    return task


for _i in range(TASKS):
    globals()[task_key(_i)] = _make_task(_i)


class OrderState(BaseModel):
    order_id: str
    customer_id: str
    items: list[dict[str, Any]]
    total_amount: float
    inventory_valid: bool | None = None
    payment_valid: bool | None = None
    fraud_check_passed: bool | None = None
    fraud_score: float | None = None
    ready_to_ship: bool = False
    shipping_cost: float | None = None


def validate_order(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {}


def check_inventory(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {"inventory_valid": not any(i["sku"].startswith("OUT") for i in state.items)}


def verify_payment(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {"payment_valid": state.total_amount < 10_000}


def fraud_check(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    score = sum(map(ord, state.customer_id)) % 100 / 100
    return {"fraud_check_passed": score < 0.8, "fraud_score": score}


def check_results(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    ok = state.inventory_valid and state.payment_valid and state.fraud_check_passed
    return {"ready_to_ship": bool(ok)}


def calculate_shipping(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {"shipping_cost": 5.0 + 2.0 * len(state.items)} if state.ready_to_ship else {}


def expected_order(initial: dict[str, Any]) -> dict[str, Any]:
    """The final FastOrders state for ``initial``, computed without the engine."""
    state = OrderState.model_validate(initial)
    for step in (check_inventory, verify_payment, fraud_check, check_results, calculate_shipping):
        state = state.model_copy(update=step(state, None))  # type: ignore[arg-type]
    return state.model_dump(mode="json")


RESUME_YAML = f"""
workflow_type: ResumeFlow
workflow_version: "1"
initial_state_model: {__name__}.ResumeState
steps:
  - name: Prepare
    function: {__name__}.prepare
    automate_next: true
  - name: {PARALLEL_STEP}
    type: PARALLEL
    merge_strategy: SHALLOW
    tasks:
""" + "".join(
    f"      - {{name: {task_key(i)}, function_path: {__name__}.{task_key(i)}}}\n"
    for i in range(TASKS)
)

ORDERS_YAML = f"""
workflow_type: FastOrders
workflow_version: "1"
initial_state_model: {__name__}.OrderState
steps:
  - {{name: Validate_Order, function: {__name__}.validate_order, automate_next: true}}
  - name: Parallel_Validation
    type: PARALLEL
    automate_next: true
    allow_partial_success: true
    tasks:
      - {{name: check_inventory, function_path: {__name__}.check_inventory}}
      - {{name: verify_payment, function_path: {__name__}.verify_payment}}
      - {{name: fraud_check, function_path: {__name__}.fraud_check}}
  - {{name: Check_Results, function: {__name__}.check_results, automate_next: true}}
  - {{name: Calculate_Shipping, function: {__name__}.calculate_shipping}}
"""


def write_config(directory: Path) -> Path:
    """Write both definitions into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "resume.yaml").write_text(RESUME_YAML, encoding="utf-8")
    (directory / "orders.yaml").write_text(ORDERS_YAML, encoding="utf-8")
    return directory


def make_store(kind: str, target: str) -> Any:
    if kind == "sqlite":
        from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

        return SQLitePersistenceProvider(target)
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    return PostgresPersistenceProvider(target, max_size=4)


async def _drive(mode: str, kind: str, target: str, workflow_id: str, config_dir: str) -> None:
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider

    builder = WorkflowBuilder(config_dir=config_dir)
    store = make_store(kind, target)
    executor = ThreadPoolExecutionProvider(max_workers=4)
    if mode == "start":
        workflow = await builder.create_workflow(
            "ResumeFlow",
            persistence_provider=store,
            execution_provider=executor,
            initial_data={"job": "resume-test"},
            workflow_id=workflow_id,
        )
    else:
        workflow = await builder.load_workflow(
            workflow_id, persistence_provider=store, execution_provider=executor
        )
    status = await workflow.run_to_completion()
    executor.close()
    await store.close()
    json.dump({"status": status.value, "state": workflow.state.model_dump(mode="json")}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(_drive(*sys.argv[1:6]))
