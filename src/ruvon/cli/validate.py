"""``ruvon validate``: check definition files and collect every problem of every file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ruvon.definition import LoadedDefinition, load_definition
from ruvon.errors import RuvonError
from ruvon.registry_file import is_registry, registry_problems
from ruvon.yaml_source import read_yaml


@dataclass(slots=True)
class FileReport:
    """The outcome of validating one file: the loaded definition, or its problems."""

    path: Path
    loaded: LoadedDefinition | None = None
    problems: list[str] = field(default_factory=list)
    #: For a registry file (a ``workflows:`` list), how many workflows it registers.
    registered: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the file is a valid, importable definition."""
        return not self.problems


def validate_file(path: Path) -> FileReport:
    """Parse, validate and import one definition file (its state model and functions too)."""
    try:
        raw = read_yaml(path)
        if is_registry(raw):  # a workflow_registry.yaml beside the definitions
            workflows = raw.get("workflows")
            count = len(workflows) if isinstance(workflows, list) else 0
            return FileReport(path, problems=registry_problems(path, raw), registered=count)
        loaded = load_definition(raw, source=str(path), path=path)
    except RuvonError as exc:  # DefinitionError, and anything else the engine reports
        return FileReport(path, problems=problem_lines(str(exc)))
    return FileReport(path, loaded=loaded)


def expand_paths(paths: list[Path]) -> list[Path]:
    """``paths`` with each directory replaced by its ``*.yaml`` and ``*.yml`` files, sorted."""
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        else:
            expanded.append(path)
    return expanded


def validate_files(paths: list[Path]) -> list[FileReport]:
    """Validate every file (directories: their YAML files).

    Two files defining one ``workflow_type`` are a problem of the second.
    """
    reports = [validate_file(path) for path in expand_paths(paths)]
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
