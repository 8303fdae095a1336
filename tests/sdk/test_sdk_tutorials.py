"""The SDK's tutorials (getting started, task manager, parallel execution, saga) run on ruvon.

Each test follows its page's program: the same calls with the same arguments, in the same order.
Changes, each marked ``page fix``, are only the pages' own bugs: ``builder.create_workflow`` is async
on the SDK's own API page but the tutorials forget ``await``; ``typing.Any`` for the builtin ``any``;
the SDK-internal ``persistence.conn.executescript(...)`` schema is dropped (ours creates its own);
our one waiting status is ``WAITING_HUMAN`` (the pages test ``"PAUSED"``). Printing is left out:
the tests assert on what the pages print.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutionProvider, SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

PAGES = Path(__file__).resolve().parent / "pages"


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    yield


async def test_getting_started_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PAGES / "getting_started")
    persistence = SQLitePersistenceProvider(db_path=":memory:")
    await persistence.initialize()
    builder = WorkflowBuilder(  # type: ignore[call-arg]
        config_dir="config/",
        persistence_provider=persistence,
        execution_provider=SyncExecutionProvider(),
        observer=LoggingObserver(),
    )
    workflow = await builder.create_workflow(
        workflow_type="HelloWorkflow", initial_data={"name": "Alice"}
    )
    while workflow.status == "ACTIVE":
        await workflow.execute_next_step()  # type: ignore[attr-defined]
    assert workflow.status == "COMPLETED"
    assert workflow.state.get("farewell") == "Goodbye, Alice! See you next time."  # type: ignore[attr-defined]
    assert workflow.state.get("greeting", "").startswith("Hello, ")  # type: ignore[attr-defined]
    await persistence.close()


async def _task_manager(db_path: str) -> Any:
    """The tutorial's main(), with its page fixes."""
    steps = importlib.import_module("sdk_task_manager.steps")
    steps.RAN.clear()
    persistence = SQLitePersistenceProvider(db_path=db_path)
    await persistence.initialize()  # page fix: no persistence.conn.executescript(schema)
    builder = WorkflowBuilder(  # type: ignore[call-arg]
        registry_path=None,
        persistence_provider=persistence,
        execution_provider=SyncExecutor(),
        observer=LoggingObserver(),
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )
    workflow_path = PAGES / "task_manager" / "config" / "workflow.yaml"
    builder.load_workflow_config("TaskApprovalWorkflow", str(workflow_path))  # type: ignore[attr-defined]
    initial_data = {
        "task_id": "TASK-001",
        "title": "Implement new feature",
        "description": "Add user authentication to the platform",
        "priority": "high",
        "category": "development",
        "requires_approval": True,
    }
    workflow = await builder.create_workflow(  # page fix: await
        "TaskApprovalWorkflow", initial_data=initial_data
    )
    step_count = 0
    while workflow.status == "ACTIVE" and step_count < 10:
        await workflow.next_step()
        step_count += 1
        if workflow.status == "WAITING_HUMAN":  # page fix: "PAUSED"
            break
    paused = (workflow.status, list(steps.RAN))
    approval_input = {
        "approved_by": "alice_manager",
        "approval_notes": "Looks good, proceed with implementation",
    }
    resumes = 0
    while workflow.status in ("ACTIVE", "WAITING_HUMAN"):  # page fix: "PAUSED"
        await workflow.next_step(user_input=approval_input)
        resumes += 1
        assert resumes < 10, f"the resume loop does not end: ran {steps.RAN}"
        if workflow.status == "COMPLETED":
            break
    await persistence.close()
    return workflow, paused, steps.RAN


@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
async def test_task_manager_pauses_for_approval_then_completes(tmp_path: Path) -> None:
    workflow, paused, ran = await _task_manager(str(tmp_path / "tasks.db"))
    assert paused == (
        "WAITING_HUMAN",
        ["create_task", "assign_task", "request_approval"],
    )
    assert ran == [
        "create_task",
        "assign_task",
        "request_approval",
        "complete_task",
        "send_notification",
    ]
    assert workflow.status == "COMPLETED"
    state = workflow.state
    assert (state.task_id, state.assigned_to, state.approved_by) == (
        "TASK-001",
        "senior_engineer",
        "alice_manager",
    )
    assert state.approval_notes == "Looks good, proceed with implementation"
    assert state.workflow_status == "completed" and state.notification_sent is True


def _parallel_builder(executor: Any) -> WorkflowBuilder:
    builder = WorkflowBuilder(  # type: ignore[call-arg]
        registry_path=None,
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=executor,
        observer=LoggingObserver(),
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )
    workflow_path = PAGES / "parallel" / "config" / "workflow.yaml"
    builder.load_workflow_config("OrderProcessing", str(workflow_path))  # type: ignore[attr-defined]
    return builder


async def test_parallel_execution_runs_the_three_checks_at_once() -> None:
    tasks = importlib.import_module("sdk_order_processor.tasks")
    tasks.SPANS.clear()
    executor = ThreadPoolExecutionProvider(max_workers=5)
    builder = _parallel_builder(executor)
    initial_data = {
        "order_id": "ORD-12345",
        "customer_id": "CUST-999",
        "items": [
            {"sku": "WIDGET-001", "quantity": 2, "price": 29.99},
            {"sku": "GADGET-042", "quantity": 1, "price": 149.99},
        ],
        "total_amount": 209.97,
    }
    workflow = await builder.create_workflow(  # page fix: await
        "OrderProcessing", initial_data=initial_data
    )
    while workflow.status == "ACTIVE":
        await workflow.next_step()
        if workflow.status == "COMPLETED":
            break
    executor.close()
    assert workflow.status == "COMPLETED"
    state = workflow.state
    assert state.inventory_valid and state.payment_valid and state.fraud_check_passed
    assert state.ready_to_ship and state.shipping_cost == 9.0
    assert state.estimated_delivery == "3-5 business days"
    # The three checks overlapped: each started before any other ended.
    starts = [span[0] for span in tasks.SPANS.values()]
    ends = [span[1] for span in tasks.SPANS.values()]
    assert len(starts) == 3 and max(starts) < min(ends)


async def _saga(fail: bool) -> Any:
    steps = importlib.import_module("sdk_payment_processor.steps")
    steps.FAIL_SHIPMENT = fail
    builder = WorkflowBuilder(  # type: ignore[call-arg]
        registry_path=None,
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutor(),
        observer=LoggingObserver(),
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )
    workflow_path = PAGES / "saga" / "config" / "workflow.yaml"
    builder.load_workflow_config("PaymentProcessing", str(workflow_path))  # type: ignore[attr-defined]
    initial_data = {
        "order_id": "ORD-12345",
        "customer_id": "CUST-789",
        "amount": 299.99,
        "currency": "USD",
    }
    workflow = await builder.create_workflow(  # page fix: await
        "PaymentProcessing", initial_data=initial_data
    )
    workflow.enable_saga_mode()  # type: ignore[attr-defined]  # called without await, as on the page
    try:
        while workflow.status == "ACTIVE":
            await workflow.next_step()
            if workflow.status in ("COMPLETED", "FAILED"):
                break
    finally:
        steps.FAIL_SHIPMENT = False
    return workflow


async def test_saga_success_runs_no_compensation() -> None:
    workflow = await _saga(fail=False)
    assert workflow.status == "COMPLETED"
    state = workflow.state
    assert state.order_created and state.payment_charged and state.inventory_reserved
    assert state.shipment_created and state.compensations_run == []
    assert state.workflow_status == "completed"


async def test_saga_failure_compensates_in_reverse_order() -> None:
    workflow = await _saga(fail=True)
    assert workflow.status == "FAILED_ROLLED_BACK"
    state = workflow.state
    assert state.order_reference is not None
    assert not (state.order_created or state.payment_charged or state.inventory_reserved)
    assert not state.shipment_created
    # The shipment never completed, so it is not compensated.
    assert state.compensations_run == ["release_inventory", "refund_payment", "cancel_order"]
    # The page prints "inventory_released" here; the last compensation that ran is cancel_order.
    assert state.workflow_status == "order_canceled"
