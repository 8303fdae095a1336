"""DefinitionCatalog: where each workflow type is defined, and its loaded definition.

The part of :class:`~ruvon.builder.WorkflowBuilder` that finds definitions: a registry (a mapping or
a ``workflows:`` file), discovery of ``*.yaml`` files in the config directory, definitions given as
data, and the cache of loaded definitions.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruvon.definition import LoadedDefinition, load_definition
from ruvon.definition_checks import walk
from ruvon.errors import ConfigurationError, DefinitionError, WorkflowNotFound
from ruvon.step_models import SubWorkflowStep
from ruvon.template_names import TemplateNames
from ruvon.yaml_source import read_yaml

REGISTRY_FILE = "workflow_registry.yaml"
_log = logging.getLogger("ruvon.builder")


@dataclass(slots=True)
class _Entry:
    """Where one workflow type is defined."""

    workflow_type: str
    path: Path
    state_model: str | None = None
    raw: Mapping[str, Any] | None = None  # a definition given as data, not read from ``path``


class DefinitionCatalog:
    """Known workflow types, where they are defined, and their loaded definitions.

    Args:
        workflow_registry: A registry mapping or the path of a registry file (see WorkflowBuilder).
        config_dir: Where definitions live.
        parameters: Values for ``{{ parameters.x }}`` placeholders.
    """

    def __init__(
        self,
        workflow_registry: Mapping[str, Any] | str | Path | None,
        config_dir: Path,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.config_dir = config_dir
        self.parameters = dict(parameters or {})
        self._entries: dict[str, _Entry] = {}
        self._unreadable: list[DefinitionError] = []
        self._loaded: dict[str, LoadedDefinition] = {}
        #: What templates may read as env.X / secrets.X (a registry file may add names).
        self.template_names = TemplateNames.from_sources()
        if isinstance(workflow_registry, Mapping):
            self._register_mapping(
                workflow_registry, "the workflow_registry given to WorkflowBuilder"
            )
        elif workflow_registry is not None:
            self._register_file(Path(workflow_registry))
        elif (self.config_dir / REGISTRY_FILE).is_file():
            self._register_file(self.config_dir / REGISTRY_FILE)
        else:
            self._discover()

    # -- discovery -------------------------------------------------------------------------------
    def _discover(self) -> None:
        if not self.config_dir.is_dir():
            return
        files = sorted([*self.config_dir.glob("*.yaml"), *self.config_dir.glob("*.yml")])
        for path in files:
            try:
                raw = read_yaml(path)
            except DefinitionError as exc:  # one bad file must not stop the others' workflows
                _log.warning("Skipping a definition file that cannot be read: %s", exc)
                self._unreadable.append(exc)
                continue
            if isinstance(raw, Mapping) and isinstance(raw.get("workflow_type"), str):
                self._add(_Entry(raw["workflow_type"], path))

    def _register_file(self, path: Path) -> None:
        raw = read_yaml(path)
        workflows = raw.get("workflows") if isinstance(raw, Mapping) else None
        if not isinstance(workflows, list):
            raise DefinitionError(
                f"{path}: a workflow registry needs a 'workflows:' list of entries with 'type', "
                f"'config_file' and 'initial_state_model'."
            )
        self.template_names = TemplateNames.from_sources(raw)
        base = path.parent
        for i, item in enumerate(workflows):
            if not isinstance(item, Mapping) or "type" not in item or "config_file" not in item:
                raise DefinitionError(
                    f"{path}: workflows entry {i + 1} needs 'type' and 'config_file' (got {item!r})."
                )
            state_model = item.get("initial_state_model") or item.get("initial_state_model_path")
            self._add(_Entry(str(item["type"]), base / str(item["config_file"]), state_model))

    def _register_mapping(self, registry: Mapping[str, Any], source: str) -> None:
        for workflow_type, item in registry.items():
            if not isinstance(item, Mapping) or "config_file" not in item:
                raise ConfigurationError(
                    f"In {source}, '{workflow_type}' needs a dict with 'config_file' (and optionally "
                    f"'initial_state_model_path'), got {item!r}."
                )
            state_model = item.get("initial_state_model_path") or item.get("initial_state_model")
            path = Path(str(item["config_file"]))
            self._add(
                _Entry(
                    str(workflow_type),
                    path if path.is_absolute() else self.config_dir / path,
                    state_model,
                )
            )

    def _add(self, entry: _Entry) -> None:
        existing = self._entries.get(entry.workflow_type)
        if existing is not None and existing.path != entry.path:
            raise DefinitionError(
                f"The workflow_type '{entry.workflow_type}' is defined twice: in {existing.path} and "
                f"in {entry.path}. Rename one of them or remove the duplicate file."
            )
        self._entries[entry.workflow_type] = entry

    def register_definition(
        self, definition: Mapping[str, Any], *, source: str | None = None
    ) -> str:
        """Add a definition given as data (a dict shaped like the YAML); return its workflow type.

        It is validated and its functions imported at once, so a broken definition fails here.

        Args:
            definition: The definition, with ``workflow_type``, ``initial_state_model`` and ``steps``.
            source: A name for messages (default: ``<definition of TYPE>``).

        Raises:
            DefinitionError: The definition is invalid, or its type is already defined elsewhere.
        """
        workflow_type = definition.get("workflow_type")
        if not isinstance(workflow_type, str) or not workflow_type:
            raise DefinitionError(
                f"{source or 'A definition given to register_definition'} has no 'workflow_type' "
                f"string; add one (e.g. workflow_type: OrderProcessing)."
            )
        label = source or f"<definition of {workflow_type}>"
        existing = self._entries.get(workflow_type)
        if existing is not None and existing.raw is None:
            raise DefinitionError(
                f"The workflow_type '{workflow_type}' is defined twice: in {existing.path} and in "
                f"{label}. Rename one of them."
            )
        self._entries[workflow_type] = _Entry(workflow_type, Path(label), raw=dict(definition))
        self._loaded.pop(workflow_type, None)
        try:
            self.get_definition(workflow_type)
        except Exception:
            del self._entries[workflow_type]
            raise
        return workflow_type

    def load_workflow_config(self, workflow_type: str, config_file: str | Path) -> None:
        """Register the definition in ``config_file`` as ``workflow_type`` and load it now.

        Raises:
            DefinitionError: The file is invalid, defines another ``workflow_type``, or the type is
                already defined by another file.
        """
        path = Path(config_file)
        raw = read_yaml(path)
        declared = raw.get("workflow_type") if isinstance(raw, Mapping) else None
        if declared is not None and declared != workflow_type:
            raise DefinitionError(
                f"{path} defines workflow_type '{declared}', but load_workflow_config was asked to "
                f"register it as '{workflow_type}'. Use the same name in both places."
            )
        self._add(_Entry(workflow_type, path))
        self._loaded.pop(workflow_type, None)
        self.get_definition(workflow_type)

    def get_workflow_config(self, workflow_type: str) -> dict[str, Any]:
        """The definition of ``workflow_type`` as data (as written, parameters substituted).

        ``workflow_version`` is always present (``"1.0"`` when the file has none).

        Raises:
            WorkflowNotFound: The type is unknown.
        """
        loaded = self.get_definition(workflow_type)
        config = copy.deepcopy(loaded.raw)
        config.setdefault("workflow_version", loaded.definition.workflow_version)
        return config

    def list_available_workflows(self) -> list[str]:
        """The known workflow types, sorted."""
        return sorted(self._entries)

    @property
    def workflow_types(self) -> dict[str, Path]:
        """Known workflow types and the files that define them."""
        return {name: entry.path for name, entry in sorted(self._entries.items())}

    def get_definition(self, workflow_type: str) -> LoadedDefinition:
        """The loaded definition of ``workflow_type`` (parsed, validated and imported once)."""
        loaded = self._loaded.get(workflow_type)
        if loaded is not None:
            return loaded
        entry = self._entries.get(workflow_type)
        if entry is None:
            raise self._unknown(workflow_type)
        raw = read_yaml(entry.path) if entry.raw is None else entry.raw
        if isinstance(raw, Mapping) and entry.state_model and "initial_state_model" not in raw:
            raw = {**raw, "initial_state_model": entry.state_model}
        loaded = load_definition(
            raw,
            source=str(entry.path),
            path=entry.path if entry.raw is None else None,
            parameters=self.parameters,
        )
        self._check_children(loaded)
        loaded.template_names = self.template_names
        self._loaded[workflow_type] = loaded
        return loaded

    def _check_children(self, loaded: LoadedDefinition) -> None:
        """SUB_WORKFLOW steps must name workflow types this builder knows."""
        for step, _ in walk(loaded.definition.steps, ["steps"]):
            if isinstance(step, SubWorkflowStep) and step.workflow_type not in self._entries:
                known = ", ".join(sorted(self._entries)) or "none"
                raise DefinitionError(
                    f"{loaded.source}, step '{step.name}': the sub-workflow type "
                    f"'{step.workflow_type}' is not defined (known types: {known}). Add its "
                    f"definition to the config directory or fix the name."
                )

    def _unknown(self, workflow_type: str) -> Exception:
        if self._unreadable:
            return DefinitionError(
                f"The workflow type '{workflow_type}' was not found, and some definition files could "
                f"not be read:\n" + "\n".join(f"  - {e}" for e in self._unreadable)
            )
        if not self._entries:
            where = self.config_dir.resolve()
            reason = "does not exist" if not where.is_dir() else "holds no workflow definitions"
            return WorkflowNotFound(
                f"Unknown workflow type '{workflow_type}': the config directory {where} {reason}. "
                f"Pass config_dir=... to WorkflowBuilder, set RUVON_CONFIG_DIR, or run from the "
                f"directory that contains config/."
            )
        known = ", ".join(f"'{name}' ({path})" for name, path in self.workflow_types.items())
        return WorkflowNotFound(f"Unknown workflow type '{workflow_type}'. Known types: {known}.")
