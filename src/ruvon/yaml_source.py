"""Read YAML files with errors that give the file and line, and find the line of any key path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ruvon.errors import DefinitionError
from ruvon.yaml_loader import (
    MAX_BYTES,
    MAX_DEPTH,
    BoundedSafeLoader,
    DuplicateKeyError,
    YamlBoundError,
    check_flow_depth,
)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file.

    Raises:
        DefinitionError: The file cannot be read, is larger than MAX_BYTES, is not UTF-8, or its
            YAML does not parse or breaks a bound of :class:`BoundedSafeLoader` (with file and line).
    """
    text = _read_text(path)
    deep = check_flow_depth(text)
    if deep is not None:
        raise DefinitionError(
            f"{path}, line {deep}: brackets nest deeper than {MAX_DEPTH} levels. Flatten the "
            f"structure."
        )
    try:
        return yaml.load(text, Loader=BoundedSafeLoader)
    except RecursionError:
        raise DefinitionError(
            f"{path}: its YAML nests too deeply to read. Flatten the structure."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        detail = problem
        if context:
            started = f" on line {context_mark.line + 1}" if context_mark else ""
            detail = f"{problem} ({context} that starts{started})"
        advice = (
            "" if isinstance(exc, YamlBoundError | DuplicateKeyError) else " Fix the syntax there."
        )
        raise DefinitionError(f"{where}: invalid YAML: {detail}.{advice}") from None


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DefinitionError(
                f"{path}: the file is {size:,} bytes; definition files may be at most "
                f"{MAX_BYTES:,} bytes. Split it, or check that it is the right file."
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot be read: {exc.strerror or exc}.") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DefinitionError(
            f"{path}, line {line}: the file is not UTF-8 text (byte {data[exc.start]:#04x} at "
            f"offset {exc.start}). Save it as UTF-8."
        ) from None


def line_of(path: Path | None, location: Sequence[str | int]) -> int | None:
    """The 1-based line where ``location`` (keys and list indexes) starts in the YAML file, if known."""
    if path is None:
        return None
    try:
        node: Any = yaml.compose(path.read_text(encoding="utf-8"), Loader=BoundedSafeLoader)
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        return None
    line = None if node is None else node.start_mark.line + 1
    for part in location:
        node = _child(node, part)
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None
