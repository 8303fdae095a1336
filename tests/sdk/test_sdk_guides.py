"""The SDK's how-to guides (create workflow, decisions, human input, HTTP, saga, testing) on ruvon.

``TestHarness()`` with no arguments reads ``./config``, as the guides' tests expect: each test runs
in its page's directory. Adaptations, each marked ``page fix``: ``workflow.current_step`` is an
index on ours (``current_step_name`` is the name the pages compare with); our waiting status is
``WAITING_HUMAN`` (the pages write ``WAITING_HUMAN_INPUT``); a failing step does not raise from
``next_step`` on ours (the workflow is FAILED and ``workflow.error`` says why); HTTP calls are
mocked with ``harness.mock_http`` (the pages patch the SDK's own aiohttp client).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from unittest.mock import patch

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutionProvider
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.testing import TestHarness

PAGES = Path(__file__).resolve().parent / "pages"


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("RUVON_CONFIG_DIR", raising=False)
    yield


async def test_create_workflow_guide_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PAGES / "create_workflow")
    persistence = SQLitePersistenceProvider(db_path=":memory:")
    await persistence.initialize()
    builder = WorkflowBuilder(  # type: ignore[call-arg]
        config_dir="my_workflow/",
        persistence_provider=persistence,
        execution_provider=SyncExecutionProvider(),
        observer=LoggingObserver(),
    )
    workflow = await builder.create_workflow(
        workflow_type="OrderProcessing",
        initial_data={"order_id": "ORD-001", "customer_id": "CUST-123", "amount": 99.99},
    )
    assert workflow.status == "ACTIVE"
    await workflow.next_step()
    assert workflow.status == "COMPLETED"
    state = workflow.state
    assert (state.status, state.payment_id, state.shipping_id) == (
        "shipped",
        "PAY-ORD-001",
        "SHIP-ORD-001",
    )
    await persistence.close()


@pytest.mark.parametrize(
    ("amount", "target"), [(15000, "Manual_Approval"), (99.99, "Auto_Process")]
)
async def test_decision_guide_routes_by_amount(
    monkeypatch: pytest.MonkeyPatch, amount: float, target: str
) -> None:
    monkeypatch.chdir(PAGES / "decision")
    harness = TestHarness()
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing", initial_data={"order_id": "ORD-001", "amount": amount}
    )
    await harness.next_step(workflow.id)
    assert workflow.current_step_name == target  # page fix: current_step


@pytest.mark.parametrize(
    ("amount", "target"),
    [(20000, "High_Value_Review"), (5000, "Standard_Processing"), (10, "Auto_Approve")],
)
async def test_step_types_page_default_route(
    monkeypatch: pytest.MonkeyPatch, amount: float, target: str
) -> None:
    monkeypatch.chdir(PAGES / "decision")
    harness = TestHarness()
    workflow = await harness.start_workflow("OrderValue", {"order_id": "O", "amount": amount})
    await harness.next_step(workflow.id)
    assert workflow.current_step_name == target


async def test_human_guide_pauses_then_the_next_step_gets_the_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PAGES / "human")
    harness = TestHarness()
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing", initial_data={"order_id": "ORD-001", "amount": 1500.00}
    )
    await harness.next_step(workflow.id)
    assert workflow.status == "WAITING_HUMAN"  # page fix: WAITING_HUMAN_INPUT
    await harness.next_step(workflow.id, user_input={})  # empty input keeps it waiting
    assert workflow.status == "WAITING_HUMAN"
    reloaded = await harness.load_workflow(workflow.id)
    assert reloaded.status == "WAITING_HUMAN" and reloaded.state.order_id == "ORD-001"
    await harness.next_step(
        workflow.id, user_input={"approved": True, "approved_by": "test@example.com"}
    )
    # The page expects ACTIVE, but its YAML ends with the step that got the input.
    assert workflow.status == "COMPLETED"
    assert workflow.state.approved is True and workflow.state.status == "approved"
    assert workflow.state.approved_by == "test@example.com"
    assert harness.step_path(workflow) == [
        "Validate_Order",
        "Await_Manager_Approval",
        "Process_Approved_Order",
    ]


async def test_human_guide_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PAGES / "human")
    harness = TestHarness()
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing", initial_data={"order_id": "ORD-002", "amount": 10}
    )
    await harness.next_step(workflow.id)
    await harness.next_step(
        workflow.id, user_input={"approved": False, "rejection_reason": "Invalid customer"}
    )
    assert workflow.status == "FAILED"  # page fix: next_step does not raise
    assert "Order rejected: Invalid customer" in (workflow.error or "")
    assert workflow.state.approved is False


async def test_http_guide_stores_the_parsed_body_and_routes_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PAGES / "http")
    harness = TestHarness()
    mock_response = {"status": "success", "result": "processed"}
    harness.mock_http("Call_External_Service", mock_response)
    harness.mock_http("Call_External_API", {"status": "success"})
    workflow = await harness.start_workflow(
        workflow_type="PolyglotPipeline", initial_data={"user_id": "123"}
    )
    await harness.next_step(workflow.id)
    assert workflow.state.service_response == mock_response
    assert workflow.state.outcome == "success"
    first = harness.http_calls[0]
    assert first.body == {"user_id": "123", "data": "payload"}
    assert first.headers["authorization"] == "Bearer secret-token"


async def _saga_mode_run(monkeypatch: pytest.MonkeyPatch, fail: bool) -> object:
    monkeypatch.chdir(PAGES / "saga_mode")
    harness = TestHarness()
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={"order_id": "ORD-001", "customer_id": "CUST-123", "amount": 99.99},
    )
    workflow.enable_saga_mode()  # type: ignore[attr-defined]
    if not fail:
        await harness.next_step(workflow.id)
        return workflow
    with patch("sdk_my_app.services.shipping_service.ship") as mock_ship:
        mock_ship.side_effect = Exception("Shipping unavailable")
        await harness.next_step(workflow.id)  # page fix: the failure does not raise
    return workflow


async def test_saga_guide_compensates_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = await _saga_mode_run(monkeypatch, fail=True)
    assert workflow.status == "FAILED_ROLLED_BACK"  # type: ignore[attr-defined]
    assert workflow.state.inventory_reserved is False  # type: ignore[attr-defined]
    assert workflow.state.refund_id is not None  # type: ignore[attr-defined]


async def test_saga_guide_success_runs_no_compensation(monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = await _saga_mode_run(monkeypatch, fail=False)
    assert workflow.status == "COMPLETED"  # type: ignore[attr-defined]
    assert workflow.state.inventory_reserved is True  # type: ignore[attr-defined]
    assert workflow.state.transaction_id is not None  # type: ignore[attr-defined]


async def test_testing_guide_basic_and_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PAGES / "testing")
    harness = TestHarness()
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing",
        initial_data={"order_id": "ORD-001", "customer_id": "CUST-123", "amount": 99.99},
    )
    assert workflow.status == "ACTIVE"
    assert workflow.state.order_id == "ORD-001"
    harness.mock_step("Process_Payment", {"payment_id": "PAY-X"})  # later workflows only
    result = await harness.next_step(workflow.id)
    assert result["status"] == "shipped"  # the last step's result (automate_next ran them all)
    assert workflow.status == "COMPLETED"
    assert workflow.state.payment_id == "PAY-ORD-001"
    reloaded = await harness.load_workflow(workflow.id)
    assert reloaded.state.order_id == "ORD-001"
    assert reloaded.current_step == workflow.current_step
    mocked = await harness.start_workflow("OrderProcessing", {"order_id": "O2", "amount": 5})
    assert await harness.run(mocked) == "COMPLETED" and mocked.state.payment_id == "PAY-X"


async def test_testing_guide_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PAGES / "testing")
    harness = TestHarness()
    workflow = await harness.start_workflow(
        workflow_type="OrderProcessing", initial_data={"order_id": "ORD-001", "amount": -100}
    )
    await harness.next_step(workflow.id)  # page fix: the ValueError does not propagate
    assert workflow.status == "FAILED"
    assert "Order amount must be positive" in (workflow.error or "")
