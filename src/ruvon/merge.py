"""Pure reduction of PARALLEL task results into one update, and of an update into a state.

No I/O, no threads: every function here takes values and returns new values; inputs are never mutated.
Results are always merged in the order they are given (the declared task order), so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from ruvon.errors import MergeConflict

__all__ = [
    "MergeConflictBehavior",
    "MergeStrategy",
    "apply_update",
    "merge_task_results",
]


class MergeStrategy(StrEnum):
    """How task results combine: top-level keys only, or nested dicts recursively."""

    SHALLOW = "SHALLOW"
    DEEP = "DEEP"


class MergeConflictBehavior(StrEnum):
    """What happens when two tasks return one key."""

    PREFER_NEW = "PREFER_NEW"
    PREFER_OLD = "PREFER_OLD"
    RAISE_ERROR = "RAISE_ERROR"


_Path = tuple[str, ...]


def merge_task_results(
    results: Sequence[tuple[str, Mapping[str, Any]]],
    strategy: MergeStrategy = MergeStrategy.SHALLOW,
    conflict: MergeConflictBehavior = MergeConflictBehavior.PREFER_NEW,
) -> dict[str, Any]:
    """Merge ``(task_name, result)`` pairs, in the given order, into one update.

    Args:
        results: Task results in declared task order.
        strategy: SHALLOW replaces a nested dict whole; DEEP merges nested dicts key by key.
        conflict: PREFER_NEW lets the later task win, PREFER_OLD the earlier one, RAISE_ERROR raises
            when two tasks give one key different values (equal values are not a conflict).

    Returns:
        A new dict; the inputs are not modified.

    Raises:
        MergeConflict: Under RAISE_ERROR, naming the key (dotted for nested keys) and both tasks.
    """
    if conflict is MergeConflictBehavior.PREFER_OLD:
        return merge_task_results(
            list(reversed(results)), strategy, MergeConflictBehavior.PREFER_NEW
        )
    merged: dict[str, Any] = {}
    owners: dict[_Path, str] = {}
    deep = strategy is MergeStrategy.DEEP
    strict = conflict is MergeConflictBehavior.RAISE_ERROR
    for task_name, result in results:
        _merge_into(merged, result, task_name, (), owners, deep=deep, strict=strict)
    return merged


def _merge_into(
    target: dict[str, Any],
    source: Mapping[str, Any],
    task_name: str,
    path: _Path,
    owners: dict[_Path, str],
    *,
    deep: bool,
    strict: bool,
) -> None:
    for key, value in source.items():
        key_path = (*path, key)
        if key not in target:
            target[key] = value
            owners[key_path] = task_name
            continue
        old = target[key]
        if deep and isinstance(old, Mapping) and isinstance(value, Mapping):
            nested = dict(old)  # copy before writing: never mutate a task's own result
            target[key] = nested
            _merge_into(nested, value, task_name, key_path, owners, deep=deep, strict=strict)
            continue
        if strict and old != value:
            raise MergeConflict(".".join(key_path), _owner(owners, key_path), task_name)
        target[key] = value
        owners[key_path] = task_name


def _owner(owners: Mapping[_Path, str], path: _Path) -> str:
    for end in range(len(path), 0, -1):
        if path[:end] in owners:
            return owners[path[:end]]
    return "?"


def apply_update(
    state: Mapping[str, Any],
    update: Mapping[str, Any],
    strategy: MergeStrategy = MergeStrategy.SHALLOW,
) -> dict[str, Any]:
    """Return ``state`` with ``update`` applied; the update wins.

    SHALLOW replaces top-level keys; DEEP merges nested dicts of the state with those of the update.
    """
    if strategy is MergeStrategy.SHALLOW:
        return {**state, **update}
    result = dict(state)
    for key, value in update.items():
        old = result.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            result[key] = apply_update(old, value, MergeStrategy.DEEP)
        else:
            result[key] = value
    return result
