"""Checks of a parsed definition that pydantic's schema cannot express.

Each check returns ``(location, message)`` pairs; the location (YAML keys and indexes) lets the caller
add the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ruvon.step_models import (
    LoopStep,
    ParallelStep,
    StepBase,
    expression_problems,
)

if TYPE_CHECKING:
    from ruvon.definition import WorkflowDefinition

Loc = list[str | int]
Problem = tuple[Loc, str]


def walk(steps: Sequence[StepBase], loc: Loc) -> Iterator[tuple[StepBase, Loc]]:
    """Every step with its location, loop bodies included."""
    yield from walk_located([(step, [*loc, i]) for i, step in enumerate(steps)])


def walk_located(located: Sequence[tuple[StepBase, Loc]]) -> Iterator[tuple[StepBase, Loc]]:
    """Every step of ``(step, location)`` pairs, loop bodies and injectable steps included."""
    for step, loc in located:
        yield step, loc
        if isinstance(step, LoopStep):
            yield from walk(step.loop_body, [*loc, "loop_body"])
        for r, rule in enumerate(step.dynamic_injection.rules if step.dynamic_injection else []):
            rule_loc: Loc = [*loc, "dynamic_injection", "rules", r, "steps_to_insert"]
            yield from walk(rule.steps_to_insert, rule_loc)


def semantic_problems(definition: WorkflowDefinition) -> list[Problem]:
    """Duplicate names, missing functions, bad routes, unparseable expressions, bad loop bodies."""
    located: list[tuple[StepBase, Loc]] = [
        (step, ["steps", i]) for i, step in enumerate(definition.steps)
    ]
    return located_problems(located, {s.name for s in definition.steps})


def located_problems(located: Sequence[tuple[StepBase, Loc]], top_level: set[str]) -> list[Problem]:
    """The checks of :func:`semantic_problems` on steps given with their locations.

    Also used on the steps that validate on their own when others do not, so one run of
    ``ruvon validate`` reports schema and semantic problems together.
    """
    problems: list[Problem] = []
    seen: dict[str, Loc] = {}
    for step, loc in walk_located(located):
        if step.name in seen:
            problems.append(
                (loc, f"step name '{step.name}' is used twice. Give every step a unique name.")
            )
        seen.setdefault(step.name, loc)
        problems += [(loc, message) for message in step.problems()]
    for step, loc in walk_located(located):
        on_timeout = getattr(step, "on_timeout", None)
        if on_timeout is not None and on_timeout not in top_level:
            problems.append(
                (
                    [*loc, "on_timeout"],
                    f"step '{step.name}' has on_timeout '{on_timeout}', an unknown step. "
                    f"Steps: {', '.join(sorted(top_level))}.",
                )
            )
        for j, route in enumerate(step.routes):
            route_loc: Loc = [*loc, "routes", j]
            if route.target not in top_level:
                problems.append(
                    (
                        route_loc,
                        f"a route of step '{step.name}' targets the unknown step "
                        f"'{route.target}'. Steps: {', '.join(sorted(top_level))}.",
                    )
                )
            if route.condition is None and not route.default:
                problems.append(
                    (
                        route_loc,
                        f"a route of step '{step.name}' has neither 'condition' nor 'default: true'.",
                    )
                )
            if route.condition is not None:
                problems += [
                    (route_loc, m) for m in expression_problems(route.condition, step.name)
                ]
    return problems


def input_models_of(definition: WorkflowDefinition) -> list[tuple[str, str]]:
    """``(step_name, dotted_path)`` of every step's ``input_model``."""
    found = []
    for step, _ in walk(definition.steps, ["steps"]):
        dotted = getattr(step, "input_model", None)
        if isinstance(dotted, str) and dotted:
            found.append((step.name, dotted))
    return found


def field_of(path: str) -> str:
    """The state field a path names: ``state.items`` and ``items`` both name ``items``."""
    return path.removeprefix("state.").split(".")[0]


def state_field_problems(definition: WorkflowDefinition, model: type[BaseModel]) -> list[Problem]:
    """Loop and fan-out paths must name fields of the state model."""
    fields = model.model_fields
    problems: list[Problem] = []
    for step, loc in walk(definition.steps, ["steps"]):
        keys: list[tuple[str, str | None]] = []
        if isinstance(step, ParallelStep):
            keys = [("iterate_over", step.iterate_over), ("collect_into", step.collect_into)]
        elif isinstance(step, LoopStep):
            keys = [("iterate_over", step.iterate_over)]
        for key, path in keys:
            if path is not None and field_of(path) not in fields:
                problems.append(
                    (
                        [*loc, key],
                        f"'{key}: {path}' of step '{step.name}' names no field of "
                        f"{model.__name__} (fields: {', '.join(fields)}).",
                    )
                )
    return problems
