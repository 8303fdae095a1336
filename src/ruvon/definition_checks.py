"""Checks of a parsed definition that pydantic's schema cannot express.

Each check returns ``(location, message)`` pairs; the location (YAML keys and indexes) lets the caller
add the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.step_models import (
    AsyncStep,
    DecisionStep,
    HttpStep,
    HumanStep,
    LoopMode,
    LoopStep,
    ParallelStep,
    StandardStep,
    StepBase,
    SubWorkflowStep,
)

if TYPE_CHECKING:
    from ruvon.definition import WorkflowDefinition

Loc = list[str | int]
Problem = tuple[Loc, str]

_LOOP_BODY_TYPES = (StandardStep, ParallelStep, HttpStep)


def walk(steps: Sequence[StepBase], loc: Loc) -> Iterator[tuple[StepBase, Loc]]:
    """Every step with its location, loop bodies included."""
    yield from walk_located([(step, [*loc, i]) for i, step in enumerate(steps)])


def walk_located(located: Sequence[tuple[StepBase, Loc]]) -> Iterator[tuple[StepBase, Loc]]:
    """Every step of ``(step, location)`` pairs, loop bodies included."""
    for step, loc in located:
        yield step, loc
        if isinstance(step, LoopStep):
            yield from walk(step.loop_body, [*loc, "loop_body"])


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
        problems += [(loc, message) for message in _step_problems(step)]
    for step, loc in walk_located(located):
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
                    (route_loc, m) for m in _expression_problems(route.condition, step.name)
                ]
    return problems


def _step_problems(step: StepBase) -> list[str]:
    name = f"{step.type.value} step '{step.name}'"
    if isinstance(step, StandardStep | AsyncStep) and not step.function:
        return [f"{name} has no 'function'. Add the dotted path of its function."]
    if isinstance(step, DecisionStep) and not step.function and not step.routes:
        return [f"{name} has neither 'routes' nor 'function'. Add routes with conditions."]
    if isinstance(step, ParallelStep):
        return _parallel_problems(step, name)
    if isinstance(step, LoopStep):
        return _loop_problems(step, name)
    if isinstance(step, SubWorkflowStep):
        problems = []
        for key, expression in step.input_mapping.items():
            problems += [
                f"input_mapping '{key}': {m}" for m in _expression_problems(expression, step.name)
            ]
        return problems
    return []


def _parallel_problems(step: ParallelStep, name: str) -> list[str]:
    problems = []
    dynamic = step.iterate_over is not None or step.task_function is not None
    if dynamic and not (step.iterate_over and step.task_function):
        problems.append(
            f"{name} needs both 'iterate_over' and 'task_function' for a dynamic fan-out."
        )
    if dynamic and step.tasks:
        problems.append(f"{name} has both 'tasks' and 'iterate_over'; use one or the other.")
    if not dynamic and not step.tasks:
        problems.append(
            f"{name} has no tasks. Add a 'tasks' list of {{name, function_path}} entries, or "
            f"'iterate_over' and 'task_function' for one task per item."
        )
    names = [t.name for t in step.tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"{name} has duplicate task names {duplicates}; make each unique.")
    if step.function:
        problems.append(f"{name} has a 'function'; its work is in 'tasks'. Remove it.")
    return problems


def _loop_problems(step: LoopStep, name: str) -> list[str]:
    problems = []
    if step.mode is LoopMode.ITERATE and not step.iterate_over:
        problems.append(f"{name} in ITERATE mode needs 'iterate_over' (a list field of the state).")
    if step.mode is LoopMode.WHILE:
        if not step.while_condition:
            problems.append(f"{name} in WHILE mode needs a 'while_condition'.")
        else:
            problems += _expression_problems(step.while_condition, step.name)
    if not step.loop_body:
        problems.append(f"{name} has an empty 'loop_body'. Add the steps to repeat.")
    for body in step.loop_body:
        if not isinstance(body, _LOOP_BODY_TYPES):
            problems.append(
                f"{name}: its body step '{body.name}' is {body.type.value}; a loop body may hold "
                f"STANDARD, PARALLEL and HTTP steps."
            )
    return problems


def _expression_problems(expression: str, step_name: str) -> list[str]:
    try:  # the sandbox's static check: syntax, and every construct it would refuse at run time
        SimpleExpressionEvaluator().check(expression)
    except ExpressionError as exc:
        named = f"the expression '{expression}' of step '{step_name}'"
        return [str(exc).replace(f"The expression '{expression}'", named, 1)]
    return []


def input_models_of(definition: WorkflowDefinition) -> list[tuple[str, str]]:
    """``(step_name, dotted_path)`` of every step's ``input_model``."""
    return [
        (step.name, step.input_model)
        for step, _ in walk(definition.steps, ["steps"])
        if isinstance(step, StandardStep | HumanStep) and step.input_model
    ]


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
