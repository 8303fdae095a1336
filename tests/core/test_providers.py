"""Expression evaluator, template engine, observers and the ruvon-sdk aliases."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from ruvon.errors import ExpressionError, TemplateError
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine


class Order(BaseModel):
    total: float
    tier: str
    details: dict[str, str] = {}


def test_expressions_over_a_model_and_a_dict() -> None:
    order = Order(total=150, tier="gold", details={"sku": "A"})
    evaluator = SimpleExpressionEvaluator({"state": order})
    assert evaluator.evaluate("state.total > 100 and state.tier in ['gold']") is True
    assert evaluator.evaluate("state.details.sku == 'A'") is True
    plain = SimpleExpressionEvaluator({"state": {"total": 5, "tier": "silver"}})
    assert plain.evaluate("state.total > 100 or state.tier == 'silver'") is True
    assert plain.evaluate("len([1, 2]) + 1") == 3


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "state.__class__", "state.total.__class__.__mro__", "open('/etc/passwd')"],
)
def test_dangerous_expressions_are_refused(expression: str) -> None:
    evaluator = SimpleExpressionEvaluator({"state": Order(total=1, tier="x")})
    with pytest.raises(ExpressionError, match="not allowed"):
        evaluator.evaluate(expression)


def test_expression_syntax_error() -> None:
    evaluator = SimpleExpressionEvaluator({})
    with pytest.raises(ExpressionError, match="does not parse"):
        evaluator.check("state.total >")
    with pytest.raises(ExpressionError):
        evaluator.evaluate("state.total >")


def test_templates_render_and_are_sandboxed() -> None:
    engine = Jinja2TemplateEngine({"state": Order(total=2.5, tier="gold")})
    assert engine.render("/orders/{{ state.tier }}?t={{ state.total }}") == "/orders/gold?t=2.5"
    with pytest.raises(TemplateError, match="not allowed"):
        engine.render("{{ state.__class__.__subclasses__() }}")
    with pytest.raises(TemplateError, match="cannot be rendered"):
        engine.render("{{ state.missing_field }}")


def test_ruvon_sdk_aliases_resolve() -> None:
    from ruvon.implementations.execution.sync import SyncExecutionProvider, SyncExecutor
    from ruvon.implementations.execution.thread_pool import (
        ThreadPoolExecutionProvider,
        ThreadPoolExecutorProvider,
    )
    from ruvon.implementations.persistence.memory import (
        InMemoryPersistence,
        InMemoryPersistenceProvider,
    )

    assert InMemoryPersistence is InMemoryPersistenceProvider
    assert ThreadPoolExecutorProvider is ThreadPoolExecutionProvider
    assert SyncExecutionProvider is SyncExecutor


def test_public_import_paths_of_the_design_contract() -> None:
    from ruvon.models import (  # noqa: F401
        SagaWorkflowException,
        StartSubWorkflowDirective,
        StepContext,
        WorkflowFailedException,
        WorkflowJumpDirective,
        WorkflowPauseDirective,
        WorkflowStatus,
    )
    from ruvon.workflow import Workflow  # noqa: F401

    assert WorkflowStatus.ACTIVE == "ACTIVE"
    assert StepContext("w", "t", parent_step_name="s", attempt=2).idempotency_key == "w:s:t:2"


async def test_logging_observer_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    observer = LoggingObserver()
    with caplog.at_level(logging.INFO, logger="ruvon.workflow"):
        await observer.on_task_failed("w1", "Fan", "boom", "ValueError: x")
        await observer.on_workflow_completed("w1", "T", {})
    assert "task 'boom' failed" in caplog.text and "completed" in caplog.text
