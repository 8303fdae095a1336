"""Applying what a step, task or compensation returned to the workflow state: one path for all.

Every step type (and every PARALLEL task, through its merged update) goes through
:func:`as_update` (the one "result must be a dict" check) and :func:`apply_result` (the one rule for
field values and for keys the state model does not have). Keys the model does not have follow the
model's ``extra`` setting: ``ignore`` (pydantic's default) drops them with one WARNING naming them,
``forbid`` fails the step naming the step, task and key, ``allow`` stores them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ruvon.errors import StepFailed
from ruvon.merge import MergeStrategy, apply_update
from ruvon.state_json import validator_of

_log = logging.getLogger("ruvon.workflow")

__all__ = [
    "accepted_keys",
    "apply_result",
    "as_update",
    "exit_message",
    "extra_mode",
    "short_repr",
]


def as_update(value: Any, where: str, function: str | None = None) -> dict[str, Any]:
    """A returned value as a state update: a dict as is, ``None`` as ``{}``.

    Args:
        value: What the function returned.
        where: Who returned it, for the message (``"<file>, step 'X'"``, ``"Task 't' of step 'S'"``).
        function: The dotted path of the function, added to the message (built only on error).

    Raises:
        StepFailed: Not retryable (the same code returns the same wrong type), naming ``where``.
    """
    if type(value) is dict:  # the common case, without an ABC isinstance check
        return dict(value)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if function:
        where = f"{where} ({function})"
    raise StepFailed(
        f"{where} returned {type(value).__name__} {short_repr(value)}, not a dict. Return a dict "
        f"of state fields to update, e.g. {{'inventory_valid': True}}, or None for no change.",
        retryable=False,
    )


def extra_mode(model: type[BaseModel]) -> str:
    """The model's ``extra`` setting: ``"ignore"`` (the default), ``"forbid"`` or ``"allow"``."""
    return str(model.model_config.get("extra") or "ignore")


def accepted_keys(model: type[BaseModel]) -> set[str]:
    """The names a model accepts as input: its field names and their string aliases."""
    keys = set(model.model_fields)
    for info in model.model_fields.values():
        aliases = [info.alias, info.validation_alias]
        aliases += getattr(info.validation_alias, "choices", None) or []
        keys.update(alias for alias in aliases if isinstance(alias, str))
    return keys


def apply_result(
    state: BaseModel,
    update: Mapping[str, Any],
    where: str | Callable[[], str],
    *,
    sources: Sequence[tuple[str, Mapping[str, Any]]] = (),
    strategy: MergeStrategy = MergeStrategy.SHALLOW,
    step_name: str | None = None,
) -> None:
    """Validate each key of ``update`` and assign it to ``state`` in place.

    Args:
        state: The state model instance to update.
        update: The update (a step's returned dict, or the merged results of PARALLEL tasks).
        where: The step, for messages (``"<file>, step 'X'"``), or a function that returns it
            (called only to build a message).
        sources: For a merged update, ``(task_name, result)`` pairs, so messages name the task(s)
            that wrote a key.
        strategy: DEEP merges a nested dict of the update into the field's current value.
        step_name: The step's name, recorded on the StepFailed.

    Raises:
        StepFailed: Not retryable: a key the model forbids, or a value its field rejects.
    """
    model = type(state)
    names = _FIELD_NAMES.get(model) or _field_names(model)
    if not names.issuperset(update):  # one C-level check on the hot path
        where = _text(where)
        update = _known_keys(model, update, where, sources, step_name)
    validator = validator_of(model)
    for key, value in update.items():
        if strategy is MergeStrategy.DEEP and isinstance(value, Mapping):
            value = _deep_value(state, key, value)
        try:
            validator.validate_assignment(state, key, value)
        except ValidationError as exc:
            raise StepFailed(
                f"{_text(where)}{_by(key, sources)} set the field '{key}' to {short_repr(value)}, which "
                f"{model.__name__} rejects: {exc.errors()[0]['msg']}. Return a value of the "
                f"field's type.",
                step_name=step_name,
                retryable=False,
            ) from None


_FIELD_NAMES: dict[type[BaseModel], frozenset[str]] = {}


def _text(where: str | Callable[[], str]) -> str:
    return where if isinstance(where, str) else where()


def _field_names(model: type[BaseModel]) -> frozenset[str]:
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = frozenset(model.model_fields)
    return names


def _known_keys(
    model: type[BaseModel],
    update: Mapping[str, Any],
    where: str,
    sources: Sequence[tuple[str, Mapping[str, Any]]],
    step_name: str | None,
) -> Mapping[str, Any]:
    """``update`` under the model's ``extra`` rule for keys that are not fields."""
    mode = extra_mode(model)
    if mode == "allow":
        return update
    unknown = [key for key in update if key not in model.model_fields]
    listing = ", ".join(f"'{key}'{_by(key, sources)}" for key in unknown)
    if mode == "forbid":
        raise StepFailed(
            f"{where} returned the key(s) {listing}, which {model.__name__} does not have, and the "
            f"model forbids extra keys (extra='forbid'). Add the field(s) to {model.__name__} or "
            f"stop returning them.",
            step_name=step_name,
            retryable=False,
        )
    _log.warning(
        "%s returned the key(s) %s, which %s does not have; they are dropped (the model ignores "
        "extra keys). Add the field(s) to the model, or set extra='forbid' to make this an error.",
        where,
        listing,
        model.__name__,
    )
    return {key: value for key, value in update.items() if key in model.model_fields}


def _deep_value(state: BaseModel, key: str, value: Mapping[str, Any]) -> Any:
    """The field's current value with the nested dict ``value`` merged into it."""
    old = getattr(state, key, None)
    if isinstance(old, BaseModel):
        old = old.model_dump()
    if isinstance(old, Mapping):
        return apply_update(old, value, MergeStrategy.DEEP)
    return value


def _by(key: str, sources: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    writers = [name for name, result in sources if key in result]
    if not writers:
        return ""
    return f" (from task {', '.join(repr(w) for w in writers)})"


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exit_message(where: str, exc: SystemExit) -> str:
    """The message of a step or task function that called ``sys.exit()``."""
    return (
        f"{where} called sys.exit({exc.code!r}), which would stop the whole process; it fails "
        f"instead. Raise an exception (or return a result) instead of exiting."
    )
