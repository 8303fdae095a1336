"""ruvon.testing: mocks by name, runs to the end or to a wait, human input, HTTP replies, clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sdk_harness_kit as kit
import yaml

from ruvon.models import StepContext
from ruvon.testing import FakeClock, HarnessError, TestHarness, WorkflowTestHarness


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    kit.REAL_CALLS.clear()
    yield
    kit.REAL_CALLS.clear()


async def test_unmocked_run_calls_the_real_functions_and_records_the_path() -> None:
    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        workflow = await harness.start_workflow("HarnessOrder", {"amount": 5})
        assert await harness.run(workflow) == "COMPLETED"
        assert kit.REAL_CALLS == ["Validate", "Charge", "Ship"]
        harness.assert_step_path(workflow, ["Validate", "Charge", "Ship"])
        with pytest.raises(AssertionError, match="Ship"):
            harness.assert_step_path(workflow, ["Validate", "Charge"])


async def test_a_mocked_step_returns_its_value_and_records_its_calls() -> None:
    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        charge = harness.mock_step("Charge", {"charged": True, "amount": 99.0})
        workflow = await harness.start_workflow("HarnessOrder")
        await harness.run(workflow)
        assert kit.REAL_CALLS == ["Validate", "Ship"]  # the real charge never ran
        assert workflow.state.amount == 99.0 and workflow.state.charged
        assert [call.name for call in charge.calls] == ["Charge"]


async def test_a_mocked_failure_fails_the_workflow_and_runs_the_compensations() -> None:
    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        harness.mock_step("Ship", raises=RuntimeError("carrier down"))
        refund = harness.mock_compensation("Charge", {"refunded": True})
        workflow = await harness.start_workflow("HarnessOrder")
        status = await harness.run(workflow)
        assert status == "FAILED_ROLLED_BACK"
        assert "carrier down" in (workflow.error or "")
        assert harness.compensation_log() == ["Charge"] and len(refund.calls) == 1
        assert "refund" not in kit.REAL_CALLS
        assert workflow.state.refunded


async def test_a_mock_with_a_function_gets_state_context_and_kwargs() -> None:
    seen: list[tuple[str, float]] = []

    def fake(state: kit.Order, context: StepContext, **kwargs: Any) -> dict[str, Any]:
        seen.append((context.step_name, state.amount))
        return {"route": "fake"}

    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        harness.mock_step("Validate", function=fake)
        workflow = await harness.start_workflow("HarnessOrder", {"amount": 3})
        await harness.next_step(workflow.id)
        assert seen == [("Validate", 3.0)] and workflow.state.route == "fake"


async def test_an_unknown_mock_name_is_refused() -> None:
    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        harness.mock_step("Chrage", {"charged": True})
        with pytest.raises(HarnessError, match=r"'Chrage'.*no such step"):
            await harness.start_workflow("HarnessOrder")


async def test_run_gives_human_input_to_the_step_that_waits() -> None:
    steps = [
        {"name": "Validate", "function": "sdk_harness_kit.validate", "automate_next": True},
        {"name": "Approve", "type": "HUMAN_IN_LOOP", "automate_next": True},
        {"name": "Ship", "function": "sdk_harness_kit.ship"},
    ]
    definition = kit.order_definition(saga_mode=False, steps=steps)
    async with TestHarness(definitions=(definition,)) as harness:
        workflow = await harness.start_workflow("HarnessOrder")
        assert await harness.run(workflow) == "WAITING_HUMAN"
        assert workflow.current_step_name == "Approve"
        status = await harness.run(workflow, {"Approve": {"approved": True, "reviewer": "ann"}})
        assert status == "COMPLETED"
        assert workflow.state.approved is True and workflow.state.reviewer == "ann"
        reloaded = await harness.load_workflow(workflow.id)
        assert reloaded.state == workflow.state and reloaded.status == "COMPLETED"


async def test_a_mocked_http_step_renders_its_request_and_stores_the_reply() -> None:
    steps = [
        {
            "name": "Quote",
            "type": "HTTP",
            "method": "POST",
            "url": "https://shipping.example/quotes/{{ state.order_id }}",
            "body": {"amount": "{{ state.amount }}"},
            "output_key": "quote",
        }
    ]
    definition = kit.order_definition(saga_mode=False, steps=steps)
    async with TestHarness(definitions=(definition,)) as harness:
        harness.mock_http("Quote", {"price": 7.5}, status=201)
        workflow = await harness.start_workflow("HarnessOrder", {"amount": 12})
        assert await harness.run(workflow) == "COMPLETED"
        [call] = harness.http_calls
        assert (call.step_name, call.method) == ("Quote", "POST")
        assert call.url == "https://shipping.example/quotes/ORD-1"
        assert call.body == {"amount": "12.0"}
        assert workflow.state.quote is not None
        assert workflow.state.quote["body"] == {"price": 7.5}


async def test_an_unmocked_http_step_fails_naming_how_to_mock_it() -> None:
    steps = [{"name": "Quote", "type": "HTTP", "url": "https://x.example/", "retry": None}]
    definition = kit.order_definition(saga_mode=False, steps=steps)
    async with TestHarness(definitions=(definition,)) as harness:
        workflow = await harness.start_workflow("HarnessOrder")
        assert await harness.run(workflow) == "FAILED"
        assert "mock_http('Quote'" in (workflow.error or "")


async def test_workflow_test_harness_from_yaml_runs_one_workflow(tmp_path: Path) -> None:
    path = tmp_path / "order.yaml"
    path.write_text(yaml.safe_dump(kit.order_definition()), encoding="utf-8")
    harness = WorkflowTestHarness.from_yaml(path, {"amount": 1})
    harness.mock_step("Ship", {"shipped": True, "route": "mock"})
    async with harness:
        workflow = await harness.run_all_steps()
        assert harness.current_status == "COMPLETED" and workflow.id == harness.workflow_id
        assert harness.current_state.route == "mock"  # type: ignore[attr-defined]
        assert harness.step_path == ["Validate", "Charge", "Ship"]
        with pytest.raises(HarnessError, match="after the workflow started"):
            harness.mock_step("Charge", {})


async def test_workflow_test_harness_finds_a_type_in_config_dir(tmp_path: Path) -> None:
    (tmp_path / "order.yaml").write_text(yaml.safe_dump(kit.order_definition()), "utf-8")
    async with WorkflowTestHarness("HarnessOrder", config_dir=tmp_path) as harness:
        with pytest.raises(HarnessError, match="not been created"):
            _ = harness.workflow
        await harness.next_step()
        assert harness.step_path == ["Validate", "Charge", "Ship"]


async def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(start=100.0)
    assert clock.time() == 100.0 and clock.monotonic() == 0.0
    await clock.sleep(30)
    clock.advance(5)
    assert clock.time() == 135.0 and clock.sleeps == [30]
    assert clock.now().isoformat() == "1970-01-01T00:02:15+00:00"
    with pytest.raises(Exception, match="backwards"):
        clock.advance(-1)
    assert TestHarness().clock.now().year == 2026


async def test_a_sleep_takes_no_time_on_the_harness_clock() -> None:
    definition = kit.order_definition()
    definition["steps"].insert(
        2, {"name": "Cool", "type": "SLEEP", "seconds": 3600, "automate_next": True}
    )
    async with TestHarness(definitions=(definition,)) as harness:
        start = harness.clock.time()
        workflow = await harness.start_workflow("HarnessOrder", {"amount": 5})
        await harness.next_step(workflow)  # Validate, Charge, then it sleeps
        assert workflow.status == "SLEEPING"
        assert workflow.engine.wake_at == start + 3600, "the engine read the harness's clock"
        assert await harness.run(workflow) == "COMPLETED"
        assert harness.clock.time() == start + 3600
        harness.assert_step_path(workflow, ["Validate", "Charge", "Cool", "Ship"])
