"""Describing a step result that cannot be saved (the state does not dump, or the store refuses it)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ruvon.results import short_repr


def unsavable_message(
    where: str, state: BaseModel, saved: Mapping[str, Any], exc: Exception
) -> str:
    """A sentence naming the step, the field(s) that cannot be saved and how to fix it.

    Args:
        where: The step, ``"<file>, step 'X'"``.
        state: The state the step produced.
        saved: The last saved state (JSON data).
        exc: What the dump or the store raised.
    """
    fields = _undumpable(state) or _changed(state, saved)
    named = ", ".join(f"'{name}'" for name in fields) or "(none found)"
    return (
        f"{where} produced a state that cannot be saved (field(s) {named}): "
        f"{type(exc).__name__}: {short_repr(str(exc), 200)}. The workflow keeps the state of the "
        f"last completed step. Return values the store can save (JSON types: text without NUL "
        f"characters, numbers, booleans, lists, dicts, or pydantic models of them), then retry."
    )


def _names(state: BaseModel) -> list[str]:
    return [*type(state).model_fields, *(state.model_extra or {})]


def _undumpable(state: BaseModel) -> list[str]:
    """Fields whose value pydantic cannot dump as JSON."""
    bad = []
    for name in _names(state):
        try:
            state.model_dump(mode="json", include={name})
        except Exception:  # any serializer failure names the field; the caller reports it
            bad.append(name)
    return bad


def _changed(state: BaseModel, saved: Mapping[str, Any]) -> list[str]:
    """Fields whose dumped value differs from the saved state: what the store refused is there."""
    dumped = state.model_dump(mode="json")
    return [name for name in dumped if dumped[name] != saved.get(name)]


def unsavable_tasks_message(
    where: str, results: Sequence[tuple[str, Mapping[str, Any] | None]], exc: Exception
) -> str:
    """A sentence naming the task(s) and key(s) whose results the store could not save."""
    bad = [
        f"task '{task}' key '{key}'"
        for task, result in results
        for key, value in (result or {}).items()
        if not _json_safe(value)
    ]
    named = ", ".join(bad) or ", ".join(f"task '{task}'" for task, _ in results)
    return (
        f"{where}: the results of {named} cannot be saved: {type(exc).__name__}: "
        f"{short_repr(str(exc), 200)}. The workflow keeps the state of the last completed step. "
        f"Return values the store can save (JSON types: text without NUL characters, numbers, "
        f"booleans, lists, dicts), then retry."
    )


def _json_safe(value: Any) -> bool:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return False
    return "\\u0000" not in text
