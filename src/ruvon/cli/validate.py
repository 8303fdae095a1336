"""``ruvon validate``: check definition files and collect every problem of every file."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruvon.definition import LoadedDefinition, load_definition, parse_definition
from ruvon.errors import RuvonError
from ruvon.loading import import_object
from ruvon.registry_file import is_registry, registry_problems
from ruvon.yaml_source import line_of, read_yaml

# Keys whose value is the dotted path of something ruvon imports.
_PATH_KEYS = (
    "function",
    "function_path",
    "compensate_function",
    "initial_state_model",
    "input_model",
)


@dataclass(slots=True)
class FileReport:
    """The outcome of validating one file: the loaded definition, or its problems.

    ``warnings`` are what was logged (or ``warnings.warn``-ed) while loading the file, by ruvon or
    by the modules it imports; under ``--strict`` they are problems too.
    """

    path: Path
    loaded: LoadedDefinition | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: For a registry file (a ``workflows:`` list), how many workflows it registers.
    registered: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the file is a valid, importable definition."""
        return not self.problems


def validate_file(
    path: Path, parameters: Mapping[str, Any] | None = None, *, strict: bool = False
) -> FileReport:
    """Parse, validate and import one definition file (its state model and functions too)."""
    with _captured_warnings() as captured:
        try:
            raw = read_yaml(path)
        except RuvonError as exc:
            report = FileReport(path, problems=problem_lines(str(exc)))
        else:
            report = _load(path, raw, parameters)
    named = [text if text.startswith(str(path)) else f"{path}: {text}" for text in captured]
    if strict:
        report.problems += [f"{text} (a warning; --strict makes it an error)" for text in named]
        report.loaded = None if report.problems else report.loaded
    else:
        report.warnings = named
    return report


def _load(path: Path, raw: Any, parameters: Mapping[str, Any] | None) -> FileReport:
    try:
        if is_registry(raw):  # a workflow_registry.yaml beside the definitions
            workflows = raw.get("workflows")
            count = len(workflows) if isinstance(workflows, list) else 0
            return FileReport(path, problems=registry_problems(path, raw), registered=count)
        loaded = load_definition(raw, source=str(path), path=path, parameters=parameters)
    except RuvonError as exc:  # DefinitionError, and anything else the engine reports
        problems = problem_lines(str(exc))
    else:
        return FileReport(path, loaded=loaded)
    try:
        parse_definition(raw, source=str(path), path=path, parameters=parameters)
    except RuvonError:
        # The engine stops before importing when the schema is wrong: report the imports too, so
        # one run shows every class of problem.
        problems += import_problems(raw, path)
    return FileReport(path, problems=[with_line(p, raw, path) for p in problems])


def named_paths(
    node: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[list[str | int], str]]:
    """``(location, dotted path)`` of every importable name written in the raw definition."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in _PATH_KEYS and isinstance(value, str) and "." in value:
                if "{{" not in value and "${" not in value:
                    yield [*loc, key], value
            else:
                yield from named_paths(value, (*loc, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from named_paths(item, (*loc, index))


def import_problems(raw: Any, path: Path) -> list[str]:
    """One problem, with its line, per dotted path in ``raw`` that does not import."""
    problems: list[str] = []
    seen: set[str] = set()
    for loc, dotted in named_paths(raw):
        if dotted in seen:
            continue
        seen.add(dotted)
        try:
            import_object(dotted)
        except (ImportError, RuvonError) as exc:
            line = line_of(path, loc)
            at = f"{path}, line {line}" if line else str(path)
            problems.append(
                f"{at}: {loc[-1]} '{dotted}' cannot be imported: {str(exc).rstrip('.')}. Check "
                f"the dotted path and that its package is importable (on sys.path)."
            )
    return problems


def with_line(problem: str, raw: Any, path: Path) -> str:
    """``problem`` with the YAML line of the dotted path it quotes, when it names no line yet."""
    prefix = f"{path}, "
    if not problem.startswith(prefix) or problem.startswith(f"{prefix}line "):
        return problem
    for loc, dotted in named_paths(raw):
        if f"'{dotted}'" in problem:
            line = line_of(path, loc)
            if line:
                return f"{prefix}line {line}, {problem.removeprefix(prefix)}"
    return problem


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage().splitlines()[0] if record.getMessage() else "")


@contextmanager
def _captured_warnings() -> Iterator[list[str]]:
    """Collect the warnings logged or ``warnings.warn``-ed inside the block (first line each).

    The root logger's handlers are swapped out meanwhile, so the warnings are reported once, by
    ``validate``, with the file they belong to.
    """
    captured: list[str] = []
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [_Collect(captured)]
    root.setLevel(min(saved_level or logging.WARNING, logging.WARNING))
    try:
        with warnings.catch_warnings(record=True) as raised:
            warnings.simplefilter("always")
            yield captured
        captured += [f"{w.category.__name__}: {w.message}" for w in raised]
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def expand_paths(paths: list[Path]) -> list[Path]:
    """``paths`` with each directory replaced by its ``*.yaml`` and ``*.yml`` files, sorted."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            expanded.append(path)
    return expanded


def validate_files(
    paths: list[Path], parameters: Mapping[str, Any] | None = None, *, strict: bool = False
) -> list[FileReport]:
    """Validate every file (directories: their YAML files).

    Two files defining one ``workflow_type`` are a problem of the second.
    """
    reports = [validate_file(p, parameters, strict=strict) for p in expand_paths(paths)]
    first_file: dict[str, Path] = {}
    for report in reports:
        if report.loaded is None:
            continue
        workflow_type = report.loaded.definition.workflow_type
        earlier = first_file.setdefault(workflow_type, report.path)
        if earlier != report.path:
            report.problems.append(
                f"{report.path}: the workflow_type '{workflow_type}' is already defined in "
                f"{earlier}. Rename one of them or remove the duplicate file."
            )
    return reports


def problem_lines(message: str) -> list[str]:
    """The separate problems in a DefinitionError message (one per line, each naming the file)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith("problems:"):
        lines = lines[1:]  # the "<file> has N problems:" header; each problem names the file
    return [line.removeprefix("- ") for line in lines]


def report_json(report: FileReport, *, with_graph: bool = False) -> dict[str, Any]:
    """One file of ``ruvon validate --json`` (fields documented in docs/cli.md)."""
    definition = report.loaded.definition if report.ok and report.loaded else None
    document: dict[str, Any] = {
        "file": str(report.path),
        "ok": report.ok,
        "workflow_type": definition.workflow_type if definition else None,
        "steps": len(definition.steps) if definition else None,
        "problems": list(report.problems),
        "warnings": list(report.warnings),
    }
    if with_graph:
        from ruvon.cli.graph import mermaid_flowchart

        document["graph"] = mermaid_flowchart(definition) if definition else None
    return document
