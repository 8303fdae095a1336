"""What every step type receives and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ruvon.definition import LoadedDefinition, StepDefinition
from ruvon.errors import StepFailed
from ruvon.models import StepContext
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import LogEntry, PersistenceProvider


@dataclass(slots=True)
class StepRun:
    """One run of one step: the step, the state it starts from and the providers it may use."""

    step: StepDefinition
    state: BaseModel
    context: StepContext
    loaded: LoadedDefinition
    executor: ExecutionProvider
    persistence: PersistenceProvider
    observer: WorkflowObserver

    @property
    def where(self) -> str:
        """``"<file>, step '<name>'"``, for messages."""
        return f"{self.loaded.source}, step '{self.step.name}'"


@dataclass(slots=True)
class StepOutcome:
    """What a step produced. ``state`` is the new state; the workflow saves it."""

    result: Any
    state: BaseModel
    jump_to: str | None = None
    pause: bool = False
    task_failures: dict[str, str] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)


def require_dict(value: Any, where: str, what: str = "returned") -> dict[str, Any]:
    """A step's return value as a dict (``None`` is ``{}``), or StepFailed naming the step."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    raise StepFailed(
        f"{where} {what} {type(value).__name__} {repr(value)[:60]}, not a dict. Return a dict of "
        f"state fields to update, or None for no change."
    )


def assign_fields(state: BaseModel, update: Mapping[str, Any], where: str) -> None:
    """Validate each field of ``update`` and assign it to ``state`` in place.

    Keys that are not fields of the model are ignored (as pydantic ignores extra input), unless the
    model allows extra fields.
    """
    model = type(state)
    fields = model.model_fields
    allow_extra = model.model_config.get("extra") == "allow"
    validator = model.__pydantic_validator__
    for key, value in update.items():
        if key not in fields and not allow_extra:
            continue
        try:
            validator.validate_assignment(state, key, value)
        except ValidationError as exc:
            raise StepFailed(
                f"{where} set the field '{key}' to {value!r}, which {model.__name__} rejects: "
                f"{exc.errors()[0]['msg']}. Return a value of the field's type."
            ) from None
