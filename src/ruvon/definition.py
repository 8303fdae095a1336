"""Workflow definitions: validation of YAML data and the loaded form with imported code."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ruvon.definition_checks import (
    input_models_of,
    located_problems,
    semantic_problems,
    state_field_problems,
)
from ruvon.errors import DefinitionError
from ruvon.injection import Expansion, expand
from ruvon.loading import load_function, load_model
from ruvon.parameters import substitute
from ruvon.providers.execution import plain_sync
from ruvon.sdk_checks import sdk_problems
from ruvon.sdk_forms import workflow_aliases, workflow_form
from ruvon.step_models import (
    STEP_MODELS,
    STEP_TYPE_ALIASES,
    AnyStep,
    RetryPolicy,
    RouteDefinition,
    StepBase,
    StepType,
    Strict,
    TaskDefinition,
    upper,
)
from ruvon.template_names import TemplateNames
from ruvon.yaml_source import line_of

__all__ = [
    "LoadedDefinition",
    "RouteDefinition",
    "StepDefinition",
    "StepType",
    "TaskDefinition",
    "WorkflowDefinition",
    "load_definition",
    "parse_definition",
]

StepDefinition = StepBase


class MigrationSpec(Strict):
    """A state migration under ``migrations:``: its function and the version it produces."""

    function: str
    to: str | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _to_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class WorkflowDefinition(Strict):
    """A whole workflow definition, as written in YAML."""

    workflow_type: str
    workflow_version: str = "1.0"
    initial_state_model: str = Field(
        validation_alias=AliasChoices("initial_state_model", "initial_state_model_path")
    )
    description: str | None = None
    saga_mode: bool = False
    max_active: int | None = Field(default=None, ge=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    steps: list[AnyStep] = Field(min_length=1)
    migrations: dict[str, str | MigrationSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _sdk_form(cls, data: Any) -> Any:
        return workflow_form(data)

    @field_validator("workflow_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @field_validator("migrations", mode="before")
    @classmethod
    def _version_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): item for key, item in value.items()}
        return value


@dataclass(slots=True)
class LoadedDefinition:
    """A validated definition with its state model, functions and input models imported.

    ``raw`` is the definition as data (parameters substituted): it is saved with every workflow, so a
    running workflow keeps the definition it started with even if the YAML file changes.
    """

    definition: WorkflowDefinition
    raw: dict[str, Any]
    source: str
    state_model: type[BaseModel]
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    input_models: dict[str, type[BaseModel]] = field(default_factory=dict)
    step_index: dict[str, int] = field(default_factory=dict)
    async_functions: frozenset[str] = frozenset()
    #: Plain ``def`` functions (see :func:`ruvon.providers.execution.plain_sync`): an executor that
    #: runs steps inline gets them called directly (see :func:`ruvon.steps.base.invoke`).
    plain_functions: frozenset[str] = frozenset()

    expansion: Expansion | None = None
    #: Names templates may read as ``env.X`` / ``secrets.X`` (set by the builder).
    template_names: TemplateNames | None = None

    @property
    def steps(self) -> list[StepBase]:
        """The steps in run order: the file's top-level steps, each followed by the steps its
        ``dynamic_injection`` rules may insert."""
        if self.expansion is None:
            self.expansion = expand(self.definition.steps)
        return self.expansion.steps


def parse_definition(
    raw: Any,
    *,
    source: str,
    path: Path | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> WorkflowDefinition:
    """Validate raw YAML data into a WorkflowDefinition, reporting every problem at once.

    Args:
        raw: The parsed YAML.
        source: The file name, for messages.
        path: The file, to find line numbers.
        parameters: Overrides of the definition's ``parameters:`` defaults.

    Raises:
        DefinitionError: With one line per problem, each naming the file, line, step and key.
    """
    return _validate(_substituted(raw, source, parameters), source, path)


def _substituted(raw: Any, source: str, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise DefinitionError(
            f"{source}: a workflow definition must be a mapping with workflow_type, "
            f"initial_state_model and steps, not {type(raw).__name__}."
        )
    return substitute(raw, source=source, overrides=parameters)


def _validate(raw: dict[str, Any], source: str, path: Path | None) -> WorkflowDefinition:
    raw, aliased = workflow_aliases(raw)
    problems = [f"{_at(source, path, [key])}: {message}" for key, message in aliased]
    problems += _step_type_problems(raw, source, path)
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        problems += [
            _describe(err, raw, source, path) for err in exc.errors() if not _reported_type(err)
        ]
        problems += [f"{_at(source, path, loc)}: {m}" for loc, m in _partial_problems(raw)]
        raise DefinitionError(_join(source, problems)) from None
    located = [
        f"{_at(source, path, loc)}: {message}"
        for loc, message in [*semantic_problems(definition), *sdk_problems(definition)]
    ]
    if problems + located:
        raise DefinitionError(_join(source, problems + located))
    return definition


def load_definition(
    raw: Mapping[str, Any],
    *,
    source: str,
    path: Path | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> LoadedDefinition:
    """Validate ``raw`` and import its state model, input models and every function."""
    raw = _substituted(raw, source, parameters)
    definition = _validate(raw, source, path)
    state_model = load_model(
        definition.initial_state_model, source=source, key="initial_state_model"
    )
    problems: list[DefinitionError] = []
    functions: dict[str, Callable[..., Any]] = {}
    for step in definition.steps:
        for use in step.function_paths():
            try:
                functions[use.path] = load_function(
                    use.path, where=f"{source}, {use.what}", provided=use.provided
                )
            except DefinitionError as exc:
                problems.append(exc)
    input_models: dict[str, type[BaseModel]] = {}
    for step_name, dotted in input_models_of(definition):
        try:
            input_models[step_name] = load_model(
                dotted, source=f"{source}, step '{step_name}'", key="input_model"
            )
        except DefinitionError as exc:
            problems.append(exc)
    problems += [
        DefinitionError(f"{_at(source, path, loc)}: {message}")
        for loc, message in state_field_problems(definition, state_model)
    ]
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise DefinitionError(_join(source, [str(p) for p in problems]))
    expansion = expand(definition.steps)
    return LoadedDefinition(
        definition=definition,
        raw=dict(raw),
        source=source,
        state_model=state_model,
        functions=functions,
        input_models=input_models,
        step_index={step.name: i for i, step in enumerate(expansion.steps)},
        expansion=expansion,
        async_functions=frozenset(
            p for p, f in functions.items() if inspect.iscoroutinefunction(f)
        ),
        plain_functions=frozenset(p for p, f in functions.items() if plain_sync(f)),
    )


_STEP_ADAPTER: TypeAdapter[StepBase] = TypeAdapter(AnyStep)


def _partial_problems(raw: Mapping[str, Any]) -> list[tuple[list[str | int], str]]:
    """Semantic problems of the steps that validate on their own (others have schema errors)."""
    steps = raw.get("steps")
    if not isinstance(steps, list):
        return []
    located: list[tuple[StepBase, list[str | int]]] = []
    for i, item in enumerate(steps):
        try:
            located.append((_STEP_ADAPTER.validate_python(item), ["steps", i]))
        except ValidationError:
            continue
    names = {
        s.get("name") for s in steps if isinstance(s, Mapping) and isinstance(s.get("name"), str)
    }
    return located_problems(located, {str(n) for n in names})


def _step_type_problems(raw: Mapping[str, Any], source: str, path: Path | None) -> list[str]:
    problems: list[str] = []

    def visit(steps: Any, loc: list[str | int]) -> None:
        if not isinstance(steps, list):
            return
        for i, step in enumerate(steps):
            if not isinstance(step, Mapping):
                continue
            kind = step.get("type")
            if isinstance(kind, str) and upper(kind) not in {*STEP_MODELS, *STEP_TYPE_ALIASES}:
                name = step.get("name", f"#{i + 1}")
                later = (
                    " (schedules are not supported yet; they arrive with timers and events)"
                    if upper(kind) == "CRON_SCHEDULE"
                    else ""
                )
                problems.append(
                    f"{_at(source, path, [*loc, i, 'type'])}: step '{name}' has the unknown type "
                    f"'{kind}'{later}. Valid step types: "
                    f"{', '.join([*STEP_MODELS, *STEP_TYPE_ALIASES])}."
                )
            visit(step.get("loop_body"), [*loc, i, "loop_body"])

    visit(raw.get("steps"), ["steps"])
    return problems


def _reported_type(error: Any) -> bool:
    """Unknown step types are reported by _step_type_problems, with the valid list."""
    return bool(error["type"] in {"union_tag_invalid", "union_tag_not_found"})


def _clean_loc(loc: Sequence[str | int]) -> list[str | int]:
    """Drop the union tags pydantic puts after a step's index (``steps.0.PARALLEL.tasks``)."""
    cleaned: list[str | int] = []
    for part in loc:
        if (
            isinstance(part, str)
            and part in STEP_MODELS
            and cleaned
            and isinstance(cleaned[-1], int)
        ):
            continue
        cleaned.append(part)
    return cleaned


def _describe(error: Any, raw: Mapping[str, Any], source: str, path: Path | None) -> str:
    loc = _clean_loc(error["loc"])
    where = _at(source, path, loc)
    subject, model = _subject(loc, raw)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: {subject}has an unknown key '{loc[-1]}'. {_valid_keys(loc, model)}"
    if kind == "missing":
        return f"{where}: {subject}is missing the required key '{loc[-1]}'."
    if kind == "value_error":  # a model's own check: the message is already a sentence
        subject, _ = _subject([*loc, ""], raw)
        message = str(error["msg"]).removeprefix("Value error, ")
        return f"{where}: {subject}{message}".rstrip(".") + "."
    return f"{where}: {subject}key '{_dotted(loc)}': {error['msg']} (got {error.get('input')!r})."


def _subject(
    loc: Sequence[str | int], raw: Mapping[str, Any]
) -> tuple[str, type[BaseModel] | None]:
    """The innermost step named by ``loc`` (``"step 'X' "``) and the model of the failing mapping."""
    node: Any = raw
    subject = ""
    model: type[BaseModel] | None = WorkflowDefinition
    for i, part in enumerate(loc[:-1]):
        node = _index(node, part)
        if isinstance(part, int) and loc[i - 1] in ("steps", "loop_body"):
            name = node.get("name") if isinstance(node, Mapping) else None
            subject = f"step '{name}' " if name else f"step {part + 1} "
            kind = upper(node.get("type") or "STANDARD") if isinstance(node, Mapping) else None
            model = STEP_MODELS[StepType(kind)] if kind in STEP_MODELS else StepBase
        elif isinstance(part, int) and loc[i - 1] == "tasks":
            model = TaskDefinition
        elif isinstance(part, int) and loc[i - 1] == "routes":
            model = RouteDefinition
        elif part == "retry":
            model = RetryPolicy
        elif not isinstance(part, int):
            model = None
    return subject, model


def _index(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _valid_keys(loc: Sequence[str | int], model: type[BaseModel] | None) -> str:
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
