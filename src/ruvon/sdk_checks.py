"""Load-time checks of the published SDK's step keys: ``dependencies`` and ``dynamic_injection``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ruvon.step_models import LoopStep, StepBase

if TYPE_CHECKING:
    from ruvon.definition import WorkflowDefinition

Loc = list[str | int]
Problem = tuple[Loc, str]


def sdk_problems(definition: WorkflowDefinition) -> list[Problem]:
    """Dependencies that are not earlier steps, and injected steps that inject again."""
    problems = _dependency_problems(definition.steps, ["steps"], before=[])
    for i, step in enumerate(definition.steps):
        for r, rule in enumerate(step.dynamic_injection.rules if step.dynamic_injection else []):
            for k, inserted in enumerate(rule.steps_to_insert):
                if inserted.dynamic_injection is not None:
                    loc: Loc = ["steps", i, "dynamic_injection", "rules", r]
                    problems.append(
                        (
                            [*loc, "steps_to_insert", k],
                            f"step '{inserted.name}', inserted by step '{step.name}', has its own "
                            f"'dynamic_injection'; inserted steps cannot insert more. Move the "
                            f"rule to step '{step.name}'.",
                        )
                    )
    return problems


def _dependency_problems(steps: Sequence[StepBase], loc: Loc, before: list[str]) -> list[Problem]:
    """Each ``dependencies`` name must be a step that comes earlier (in its body or around it)."""
    problems: list[Problem] = []
    every = {s.name for s in steps}
    earlier = list(before)
    for i, step in enumerate(steps):
        for j, name in enumerate(step.dependencies):
            if name in earlier:
                continue
            where: Loc = [*loc, i, "dependencies", j]
            if name in every:
                reason = f"'{name}' comes after it (or is the step itself)"
            else:
                reason = f"there is no step '{name}' before it"
            problems.append(
                (
                    where,
                    f"step '{step.name}' depends on '{name}', but {reason}. A dependency names an "
                    f"earlier step: steps run in file order (or by routes).",
                )
            )
        if isinstance(step, LoopStep):
            problems += _dependency_problems(step.loop_body, [*loc, i, "loop_body"], earlier)
            problems += [
                (
                    [*loc, i, "loop_body", k, "dynamic_injection"],
                    f"step '{body.name}' is inside LOOP '{step.name}'; 'dynamic_injection' works on "
                    f"top-level steps only. Move the rule to the LOOP step or to a top-level step.",
                )
                for k, body in enumerate(step.loop_body)
                if body.dynamic_injection is not None
            ]
        earlier.append(step.name)
    return problems
