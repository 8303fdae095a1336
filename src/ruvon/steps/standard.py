"""STANDARD steps: call one function, merge the dict it returns into the state."""

from __future__ import annotations

from typing import Any

from ruvon.errors import RuvonError, StepFailed
from ruvon.models import WorkflowJumpDirective, WorkflowPauseDirective
from ruvon.steps.base import StepOutcome, StepRun, assign_fields, require_dict


async def run_standard(run: StepRun) -> StepOutcome:
    """Run a STANDARD step.

    Sync functions run on the execution provider, async ones on the event loop. A function may raise
    WorkflowJumpDirective (continue at another step) or WorkflowPauseDirective (wait for input).

    Raises:
        StepFailed: The function raised, returned a non-dict, or returned invalid field values.
    """
    assert run.step.function is not None
    func = run.loaded.functions[run.step.function]
    jump_to: str | None = None
    pause = False
    try:
        if run.step.function in run.loaded.async_functions:
            value: Any = await func(run.state, run.context)
        else:
            value = await run.executor.run_step(func, run.state, run.context)
    except WorkflowJumpDirective as directive:
        jump_to, value = directive.target_step_name, directive.result
    except WorkflowPauseDirective as directive:
        pause, value = True, directive.result
    except RuvonError as exc:
        raise StepFailed(f"{run.where} failed: {exc}", step_name=run.step.name) from exc
    except Exception as exc:
        raise StepFailed(
            f"{run.where} ({run.step.function}) raised {type(exc).__name__}: {exc}",
            step_name=run.step.name,
        ) from exc
    result = require_dict(value, f"{run.where} ({run.step.function})")
    assign_fields(run.state, result, run.where)
    return StepOutcome(result=result, state=run.state, jump_to=jump_to, pause=pause)
