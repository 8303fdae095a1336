"""Where a workflow goes after a step: a jump directive, the first matching route, or on."""

from __future__ import annotations

from ruvon import injection
from ruvon.definition import LoadedDefinition
from ruvon.errors import RuvonError, StepFailed
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.step_models import StepBase
from ruvon.steps.base import StepOutcome


def next_index(
    loaded: LoadedDefinition,
    step: StepBase,
    outcome: StepOutcome,
    current: int,
    evaluator_cls: type[ExpressionEvaluator],
) -> int:
    """The index of the step that runs after ``step`` (``len(steps)`` when none is left).

    Routes see the state the step produced. Raises ExpressionError for a condition that fails and
    StepFailed for a jump to an unknown step.
    """
    target = outcome.jump_to or (_route(step, outcome, evaluator_cls) if step.routes else None)
    if not target:
        if loaded.expansion is not None and loaded.expansion.blocks:
            injected = injection.next_index(loaded.expansion, step, current, outcome.state)
            if injected is not None:
                return injected
        return current + 1
    try:
        return loaded.step_index[target]
    except KeyError:
        raise StepFailed(
            f"{loaded.source}, step '{step.name}' jumped to the unknown step '{target}'. "
            f"Steps: {', '.join(loaded.step_index)}.",
            step_name=step.name,
        ) from None


def describe_error(loaded: LoadedDefinition, step: StepBase, exc: RuvonError) -> str:
    """The failure message for a routing error."""
    if isinstance(exc, StepFailed):
        return str(exc)
    return f"{loaded.source}, step '{step.name}': its routes cannot be evaluated: {exc}"


def _route(
    step: StepBase, outcome: StepOutcome, evaluator_cls: type[ExpressionEvaluator]
) -> str | None:
    if not step.routes:
        return None
    evaluator = evaluator_cls({"state": outcome.state})
    for route in step.routes:
        if route.condition is not None and evaluator.evaluate(route.condition):
            return route.target
    return next((route.target for route in step.routes if route.default), None)
