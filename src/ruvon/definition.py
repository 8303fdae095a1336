"""Workflow definitions: the YAML schema, its validation, and the loaded form with imported code."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ruvon.errors import DefinitionError
from ruvon.loading import load_function, load_state_model
from ruvon.merge import MergeConflictBehavior, MergeStrategy
from ruvon.yaml_source import line_of


class StepType(StrEnum):
    """The step types this version runs."""

    STANDARD = "STANDARD"
    PARALLEL = "PARALLEL"


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TaskDefinition(_Strict):
    """One task of a PARALLEL step."""

    name: str
    function_path: str = Field(validation_alias=AliasChoices("function_path", "function"))


class RouteDefinition(_Strict):
    """A route: go to ``target`` when ``condition`` holds, or always when ``default`` is true."""

    condition: str | None = None
    target: str = Field(validation_alias=AliasChoices("target", "next_step"))
    default: bool = False


class StepDefinition(_Strict):
    """One step of a workflow, as written in YAML."""

    name: str
    type: StepType = StepType.STANDARD
    function: str | None = None
    automate_next: bool = False
    description: str | None = None
    compensate_function: str | None = None
    input_model: str | None = None
    routes: list[RouteDefinition] = Field(default_factory=list)
    tasks: list[TaskDefinition] = Field(default_factory=list)
    merge_strategy: MergeStrategy = MergeStrategy.SHALLOW
    merge_conflict_behavior: MergeConflictBehavior = MergeConflictBehavior.PREFER_NEW
    allow_partial_success: bool = False
    timeout_seconds: float | None = Field(default=None, gt=0)

    @field_validator("type", "merge_strategy", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return _upper(value)

    @field_validator("merge_conflict_behavior", mode="before")
    @classmethod
    def _conflict_alias(cls, value: Any) -> Any:
        value = _upper(value)
        return "PREFER_OLD" if value == "PREFER_EXISTING" else value


class WorkflowDefinition(_Strict):
    """A whole workflow definition, as written in YAML."""

    workflow_type: str
    workflow_version: str = "1.0"
    initial_state_model: str = Field(
        validation_alias=AliasChoices("initial_state_model", "initial_state_model_path")
    )
    description: str | None = None
    steps: list[StepDefinition] = Field(min_length=1)

    @field_validator("workflow_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


@dataclass(slots=True)
class LoadedDefinition:
    """A validated definition with its state model and functions imported.

    ``raw`` is the definition as data: it is saved with every workflow, so a running workflow keeps
    the definition it started with even if the YAML file changes.
    """

    definition: WorkflowDefinition
    raw: dict[str, Any]
    source: str
    state_model: type[BaseModel]
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    step_index: dict[str, int] = field(default_factory=dict)
    async_functions: frozenset[str] = frozenset()

    @property
    def steps(self) -> list[StepDefinition]:
        """The steps in order."""
        return self.definition.steps


def parse_definition(raw: Any, *, source: str, path: Path | None = None) -> WorkflowDefinition:
    """Validate raw YAML data into a WorkflowDefinition, reporting every problem at once.

    Raises:
        DefinitionError: With one line per problem, each naming the file, line, step and key.
    """
    if not isinstance(raw, Mapping):
        raise DefinitionError(
            f"{source}: a workflow definition must be a mapping with workflow_type, "
            f"initial_state_model and steps, not {type(raw).__name__}."
        )
    problems = _step_type_problems(raw, source, path)
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        problems += [
            _describe(err, raw, source, path) for err in exc.errors() if not _reported_type(err)
        ]
        raise DefinitionError(_join(source, problems)) from None
    problems += _semantic_problems(definition, source, path)
    if problems:
        raise DefinitionError(_join(source, problems))
    return definition


def load_definition(
    raw: Mapping[str, Any], *, source: str, path: Path | None = None
) -> LoadedDefinition:
    """Validate ``raw`` and import its state model and every step and task function."""
    definition = parse_definition(raw, source=source, path=path)
    state_model = load_state_model(definition.initial_state_model, source=source)
    functions: dict[str, Callable[..., Any]] = {}
    problems: list[DefinitionError] = []
    for step in definition.steps:
        named = [(f"step '{step.name}'", step.function)]
        named += [(f"step '{step.name}', task '{t.name}'", t.function_path) for t in step.tasks]
        for where, dotted in named:
            if dotted is None or dotted in functions:
                continue
            try:
                functions[dotted] = load_function(dotted, where=f"{source}, {where}")
            except DefinitionError as exc:
                problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise DefinitionError(_join(source, [str(p) for p in problems]))
    return LoadedDefinition(
        definition=definition,
        raw=dict(raw),
        source=source,
        state_model=state_model,
        functions=functions,
        step_index={step.name: i for i, step in enumerate(definition.steps)},
        async_functions=frozenset(
            p for p, f in functions.items() if inspect.iscoroutinefunction(f)
        ),
    )


def _step_type_problems(raw: Mapping[str, Any], source: str, path: Path | None) -> list[str]:
    steps = raw.get("steps")
    if not isinstance(steps, list):
        return []
    valid = [t.value for t in StepType]
    problems = []
    for i, step in enumerate(steps):
        kind = step.get("type") if isinstance(step, Mapping) else None
        if isinstance(kind, str) and _upper(kind) not in valid:
            name = step.get("name", f"#{i + 1}")
            problems.append(
                f"{_at(source, path, ['steps', i, 'type'])}: step '{name}' has the unknown type "
                f"'{kind}'. Valid step types: {', '.join(valid)}."
            )
    return problems


def _semantic_problems(definition: WorkflowDefinition, source: str, path: Path | None) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, step in enumerate(definition.steps):
        at = _at(source, path, ["steps", i])
        if step.name in seen:
            problems.append(
                f"{at}: step name '{step.name}' is used twice (steps {seen[step.name] + 1} and "
                f"{i + 1}). Give every step a unique name."
            )
        seen.setdefault(step.name, i)
        if step.type is StepType.STANDARD and not step.function:
            problems.append(
                f"{at}: STANDARD step '{step.name}' has no 'function'. Add its dotted path."
            )
        if step.type is StepType.PARALLEL:
            problems += _parallel_problems(step, at)
    names = {s.name for s in definition.steps}
    for i, step in enumerate(definition.steps):
        for j, route in enumerate(step.routes):
            if route.target not in names:
                problems.append(
                    f"{_at(source, path, ['steps', i, 'routes', j])}: a route of step '{step.name}' "
                    f"targets the unknown step '{route.target}'. Steps: {', '.join(sorted(names))}."
                )
            if route.condition is None and not route.default:
                problems.append(
                    f"{_at(source, path, ['steps', i, 'routes', j])}: a route of step "
                    f"'{step.name}' has neither 'condition' nor 'default: true'."
                )
    return problems


def _parallel_problems(step: StepDefinition, at: str) -> list[str]:
    if not step.tasks:
        return [
            f"{at}: PARALLEL step '{step.name}' has no tasks. Add a 'tasks' list of "
            f"{{name, function_path}} entries."
        ]
    problems = []
    task_names = [t.name for t in step.tasks]
    duplicates = sorted({n for n in task_names if task_names.count(n) > 1})
    if duplicates:
        problems.append(
            f"{at}: PARALLEL step '{step.name}' has duplicate task names {duplicates}; results are "
            f"merged by task name, so make each unique."
        )
    if step.function:
        problems.append(
            f"{at}: PARALLEL step '{step.name}' has a 'function'; its work is in 'tasks'. Remove it."
        )
    return problems


def _describe(error: Any, raw: Mapping[str, Any], source: str, path: Path | None) -> str:
    loc: list[str | int] = list(error["loc"])
    where = _at(source, path, loc)
    subject = _subject(loc, raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: {subject}has an unknown key '{loc[-1]}'. {_valid_keys(loc)}"
    if kind == "missing":
        return f"{where}: {subject}is missing the required key '{loc[-1]}'."
    return f"{where}: {subject}key '{_dotted(loc)}': {error['msg']} (got {error.get('input')!r})."


def _reported_type(error: Any) -> bool:
    """Unknown string step types are reported by _step_type_problems with the valid list."""
    loc = error["loc"]
    return (
        len(loc) == 3
        and loc[0] == "steps"
        and loc[2] == "type"
        and isinstance(error.get("input"), str)
    )


def _subject(loc: Sequence[str | int], raw: Mapping[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = raw.get("steps") or []
        step = steps[loc[1]] if loc[1] < len(steps) else {}
        name = step.get("name") if isinstance(step, Mapping) else None
        return f"step '{name}' " if name else f"step {loc[1] + 1} "
    return ""


def _valid_keys(loc: Sequence[str | int]) -> str:
    models: dict[int, type[BaseModel]] = {1: WorkflowDefinition, 3: StepDefinition}
    model = models.get(len(loc))
    if len(loc) == 5 and loc[2] == "tasks":
        model = TaskDefinition
    elif len(loc) == 5 and loc[2] == "routes":
        model = RouteDefinition
    if model is None:
        return "Remove it."
    keys = [
        a for name, f in model.model_fields.items() for a in _aliases(f.validation_alias) or [name]
    ]
    return f"Valid keys: {', '.join(sorted(keys))}."


def _aliases(alias: Any) -> list[str]:
    if isinstance(alias, AliasChoices):
        return [str(a) for a in alias.choices]
    return [alias] if isinstance(alias, str) else []


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[")


def _at(source: str, path: Path | None, loc: Sequence[str | int]) -> str:
    line = line_of(path, loc)
    return f"{source}, line {line}" if line else source


def _join(source: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{source} has {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
