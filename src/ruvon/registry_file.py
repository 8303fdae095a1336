"""Workflow registry files (``workflows:`` lists): recognise one and check what it names.

A registry file sits in ``config/`` beside the definitions (``workflow_registry.yaml``); ``ruvon
validate config/`` reads it as a registry, not as a broken definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruvon.errors import DefinitionError
from ruvon.yaml_source import read_yaml

#: Keys a registry file may have at the top, and in each ``workflows`` entry.
TOP_KEYS = frozenset({"workflows", "requires", "env_allow", "secrets_allow"})
ENTRY_KEYS = frozenset(
    {
        "type",
        "config_file",
        "initial_state_model",
        "initial_state_model_path",
        "description",
        "requires",
    }
)


def is_registry(raw: Any) -> bool:
    """Whether parsed YAML is a registry: a ``workflows:`` list and no ``workflow_type``."""
    return isinstance(raw, Mapping) and "workflows" in raw and "workflow_type" not in raw


def registry_problems(path: Path, raw: Mapping[str, Any]) -> list[str]:
    """Every problem of a registry file: its keys, entries, and the files the entries name."""
    problems = [
        f"{path}: unknown key '{key}' in a registry file. Valid keys: {', '.join(sorted(TOP_KEYS))}."
        for key in raw
        if key not in TOP_KEYS
    ]
    workflows = raw.get("workflows")
    if not isinstance(workflows, list):
        return [
            *problems,
            f"{path}: 'workflows' must be a list of entries with 'type' and 'config_file'.",
        ]
    for i, entry in enumerate(workflows):
        problems += _entry_problems(path, i + 1, entry)
    return problems


def _entry_problems(path: Path, number: int, entry: Any) -> list[str]:
    where = f"{path}, workflows entry {number}"
    if not isinstance(entry, Mapping) or "type" not in entry or "config_file" not in entry:
        return [f"{where} needs 'type' and 'config_file' (got {entry!r})."]
    problems = [
        f"{where}: unknown key '{key}'. Valid keys: {', '.join(sorted(ENTRY_KEYS))}."
        for key in entry
        if key not in ENTRY_KEYS
    ]
    target = path.parent / str(entry["config_file"])
    if not target.is_file():
        return [*problems, f"{where} names the file {target}, which does not exist."]
    try:
        definition = read_yaml(target)
    except DefinitionError as exc:
        return [*problems, f"{where} names {target}, which cannot be read: {exc}"]
    declared = definition.get("workflow_type") if isinstance(definition, Mapping) else None
    if declared != entry["type"]:
        problems.append(
            f"{where} registers type '{entry['type']}', but {target} defines workflow_type "
            f"'{declared}'. Use the same name in both files."
        )
    model = entry.get("initial_state_model") or entry.get("initial_state_model_path")
    own = definition.get("initial_state_model") if isinstance(definition, Mapping) else None
    if model and own and model != own:
        problems.append(
            f"{where} gives initial_state_model '{model}', but {target} says '{own}'. Keep one, "
            f"or make them agree."
        )
    return problems
