"""Checks of ``--data`` and ``--input`` against the workflow's models, with CLI advice.

The engine checks the same things; checking here first lets the CLI answer with exit code 2 and
the command to type, instead of the API advice of the engine's errors.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.text import Text

from ruvon.builder import WorkflowBuilder
from ruvon.cli.inputs import InputError
from ruvon.workflow import Workflow

_EXAMPLES: dict[Any, Any] = {bool: True, int: 0, float: 0.0, str: "..."}


def _field_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return names


def checked_data(
    err: Console, builder: WorkflowBuilder, workflow_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    """``data`` for a new workflow, with unknown keys handled as the state model's ``extra`` says.

    ``ignore`` (pydantic's default): dropped, with one warning naming them; ``forbid``: an
    :class:`InputError` (exit 2) naming them; ``allow``: kept.
    """
    loaded = builder.get_definition(workflow_type)
    model = loaded.state_model
    known = _field_names(model)
    unknown = sorted(key for key in data if key not in known)
    if not unknown:
        return data
    extra = model.model_config.get("extra") or "ignore"
    if extra == "allow":
        return data
    keys = ", ".join(f"'{key}'" for key in unknown)
    fields = ", ".join(sorted(model.model_fields)) or "none"
    name = loaded.definition.initial_state_model
    if extra == "forbid":
        raise InputError(
            f"--data has keys the state model {name} does not define: {keys} (it forbids extra "
            f"keys; its fields: {fields}). Remove or rename them."
        )
    err.print(
        Text("warning: ", style="yellow")
        + Text(
            f"--data keys {keys} are not fields of the state model {name} and are dropped (its "
            f"fields: {fields}). Add them to the model, or set extra='allow' to keep them."
        )
    )
    return {key: value for key, value in data.items() if key in known}


def input_step(workflow: Workflow) -> tuple[Any, type[BaseModel] | None]:
    """The step whose ``input_model`` checks input for ``workflow``, and that model (or None).

    As in ``ruvon.pausing``: after a step paused (``engine.paused_by``), that step's model if it
    has one, else the model of the step that receives the input (the current one).
    """
    current = workflow.steps[workflow.current_step]
    models = workflow.loaded.input_models
    paused = workflow.engine.paused_by
    index = workflow.loaded.step_index.get(paused) if paused else None
    if index is not None and models.get(paused or "") is not None:
        return workflow.steps[index], models[paused or ""]
    return current, models.get(current.name)


def checked_input(workflow: Workflow, user_input: Any) -> Any:
    """``user_input`` for the waiting step, checked against its ``input_model``.

    Raises:
        InputError: It does not fit; the message names the fields and the command to retry.
    """
    step, model = input_step(workflow)
    if model is None:
        return user_input
    try:
        model.model_validate(user_input)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in e['loc']) or '(root)'}': {e['msg']}" for e in exc.errors()
        )
        raise InputError(
            f"--input does not fit the input of step '{step.name}' ({model.__name__}): "
            f"{problems}. The workflow still waits. {input_hint(workflow)}"
        ) from None
    return user_input


def input_hint(workflow: Workflow) -> str:
    """What the waiting step of ``workflow`` takes as input, and the command that gives it."""
    step, model = input_step(workflow)
    command = f"ruvon resume {workflow.id} --input"
    if model is None:
        return (
            f"Step '{step.name}' takes any JSON object as input (as context.validated_input), "
            f"e.g. {command} '{{\"approved\": true}}'."
        )
    fields = []
    example: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation)
        fields.append(f"{name} ({kind}{', required' if info.is_required() else ''})")
        if info.is_required():
            example[name] = _EXAMPLES.get(info.annotation)
    return (
        f"Step '{step.name}' takes the fields {', '.join(fields) or 'none'} of its input_model "
        f"{model.__name__}: {command} '{json.dumps(example)}'"
    )
