"""WorkflowBuilder: finds workflow definitions and creates or reloads workflows from them."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ruvon import state_migrations
from ruvon.definition import LoadedDefinition, load_definition
from ruvon.definition_checks import walk
from ruvon.errors import (
    ConfigurationError,
    DefinitionError,
    StateValidationError,
    WorkflowLoadError,
    WorkflowNotFound,
)
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider
from ruvon.providers.template_engine import TemplateEngine
from ruvon.results import accepted_keys, extra_mode
from ruvon.step_models import SubWorkflowStep
from ruvon.workflow import Workflow
from ruvon.yaml_source import read_yaml

if TYPE_CHECKING:
    from ruvon.runtime.start import Started

REGISTRY_FILE = "workflow_registry.yaml"
_STORED_DEFINITIONS = 64
_log = logging.getLogger("ruvon.builder")


@dataclass(slots=True)
class _Entry:
    """Where one workflow type is defined."""

    workflow_type: str
    path: Path
    state_model: str | None = None


class WorkflowBuilder:
    """Finds definitions and builds workflows.

    Args:
        workflow_registry: ``{workflow_type: {"config_file": ..., "initial_state_model_path": ...}}``
            (files relative to ``config_dir``), or the path of a registry YAML with a ``workflows:``
            list of ``type``, ``config_file``, ``initial_state_model``. Without one, ``config_dir`` is
            searched: its ``workflow_registry.yaml`` if present, else every ``*.yaml``/``*.yml``
            with a top-level ``workflow_type``.
        expression_evaluator_cls: Evaluates route conditions.
        template_engine_cls: Renders templates in definitions.
        config_dir: Where definitions live; default ``$RUVON_CONFIG_DIR``, else ``./config``.
        parameters: Values for ``{{ parameters.x }}`` placeholders in definitions, overriding the
            defaults under each definition's top-level ``parameters:``.
    """

    def __init__(
        self,
        workflow_registry: Mapping[str, Any] | str | Path | None = None,
        expression_evaluator_cls: type[ExpressionEvaluator] = SimpleExpressionEvaluator,
        template_engine_cls: type[TemplateEngine] = Jinja2TemplateEngine,
        config_dir: str | Path | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.config_dir = Path(config_dir or os.environ.get("RUVON_CONFIG_DIR") or "config")
        self.expression_evaluator_cls = expression_evaluator_cls
        self.template_engine_cls = template_engine_cls
        self.parameters = dict(parameters or {})
        self._entries: dict[str, _Entry] = {}
        self._unreadable: list[DefinitionError] = []
        self._loaded: dict[str, LoadedDefinition] = {}
        self._stored: dict[str, LoadedDefinition] = {}
        self._default_persistence: PersistenceProvider | None = None
        self._default_executor: ExecutionProvider | None = None
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
        raw = read_yaml(entry.path)
        if isinstance(raw, Mapping) and entry.state_model and "initial_state_model" not in raw:
            raw = {**raw, "initial_state_model": entry.state_model}
        loaded = load_definition(
            raw, source=str(entry.path), path=entry.path, parameters=self.parameters
        )
        self._check_children(loaded)
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

    # -- building --------------------------------------------------------------------------------
    async def create_workflow(
        self,
        workflow_type: str,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_builder: WorkflowBuilder | None = None,
        expression_evaluator_cls: type[ExpressionEvaluator] | None = None,
        template_engine_cls: type[TemplateEngine] | None = None,
        workflow_observer: WorkflowObserver | None = None,
        initial_data: Mapping[str, Any] | None = None,
        *,
        workflow_id: str | None = None,
        parent_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Workflow:
        """Create, save and return a new ACTIVE workflow of ``workflow_type``.

        Omitted providers get defaults shared by this builder: in-memory persistence, a thread pool
        of 10 workers and a no-op observer. ``metadata`` is the caller's own data, saved with the
        workflow (``workflow.metadata``) and given to step functions as ``context.metadata``; the
        engine never writes to it. With ``idempotency_key``, a key used before returns the first
        workflow started with it (loaded, whatever the data; a warning says when they differ).

        Raises:
            WorkflowNotFound: The type is unknown (the message lists the known ones).
            DefinitionError: The definition, its state model or a function is invalid.
            StateValidationError: ``initial_data`` does not fit the state model.
        """
        if idempotency_key is not None:
            from ruvon.runtime.start import check_key

            persistence = await self._persistence(persistence_provider)
            proposed = workflow_id or str(uuid.uuid4())
            check = await check_key(persistence, idempotency_key, proposed, initial_data or {})
            if check.exists:
                return await self.load_workflow(
                    check.workflow_id, persistence, execution_provider, workflow_observer
                )
            workflow_id = check.workflow_id
        loaded = self.get_definition(workflow_type)
        data = dict(initial_data or {})
        _warn_unknown_keys(loaded, data)
        try:
            state = loaded.state_model.model_validate(data)
        except ValidationError as exc:
            raise StateValidationError(_describe_state_errors(exc, workflow_type, loaded)) from None
        persistence = await self._persistence(persistence_provider)
        workflow = Workflow(
            workflow_id=workflow_id or str(uuid.uuid4()),
            loaded=loaded,
            state=state,
            persistence=persistence,
            executor=execution_provider or self._executor(),
            observer=workflow_observer or NoopObserver(),
            expression_evaluator_cls=expression_evaluator_cls or self.expression_evaluator_cls,
            template_engine_cls=template_engine_cls or self.template_engine_cls,
            builder=workflow_builder or self,
            parent_id=parent_id,
            metadata=dict(metadata or {}),
        )
        await workflow.start()
        return workflow

    async def start_workflow(
        self,
        workflow_type: str,
        initial_data: Mapping[str, Any] | None = None,
        *,
        persistence_provider: PersistenceProvider | None = None,
        idempotency_key: str | None = None,
        workflow_id: str | None = None,
    ) -> Started:
        """Save a new ACTIVE workflow for serving workers (``ruvon serve``) without driving it.

        With ``idempotency_key``, a key used before returns the first workflow's id whatever the
        data (``Started.created`` is False; ``Started.data_differs`` says when the data differ).

        Raises:
            WorkflowNotFound: The type is unknown.
            StateValidationError: ``initial_data`` does not fit the state model.
            ConfigurationError: The persistence provider keeps no leases.
        """
        from ruvon.runtime.start import start_workflow

        return await start_workflow(
            self,
            workflow_type,
            initial_data,
            persistence_provider=persistence_provider,
            idempotency_key=idempotency_key,
            workflow_id=workflow_id,
        )

    async def load_workflow(
        self,
        workflow_id: str,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
    ) -> Workflow:
        """Reload a saved workflow with the definition it was started with.

        Raises:
            WorkflowNotFound: No workflow with that id is stored.
            WorkflowLoadError: The stored state or definition does not load with the current code
                (after the state migrations, see ``ruvon.state_migrations``); the workflow was
                marked FAILED with the same message, naming the field or function.
        """
        persistence = await self._persistence(persistence_provider)
        record = await persistence.load_workflow(workflow_id)
        try:  # migrations of the stored state; a workflow that cannot load is marked FAILED
            prepared = state_migrations.prepare(self, record)
        except WorkflowLoadError as exc:
            await state_migrations.mark_failed(persistence, record, str(exc))
            raise
        record = await state_migrations.persist(persistence, record, prepared)
        loaded, state = prepared.loaded, prepared.state
        return Workflow(
            workflow_id=record.id,
            loaded=loaded,
            state=state,
            persistence=persistence,
            executor=execution_provider or self._executor(),
            observer=workflow_observer or NoopObserver(),
            expression_evaluator_cls=self.expression_evaluator_cls,
            template_engine_cls=self.template_engine_cls,
            builder=self,
            record=record,
        )

    def _stored_definition(self, workflow_type: str, raw: dict[str, Any]) -> LoadedDefinition:
        """The definition stored with a workflow, loaded once per distinct text (a worker loads
        thousands of workflows of a few definitions)."""
        key = json.dumps(raw, sort_keys=True, default=str)
        loaded = self._stored.get(key)
        if loaded is None:
            source = f"the definition stored with {workflow_type} workflows"
            loaded = load_definition(raw, source=source)
            if len(self._stored) >= _STORED_DEFINITIONS:
                self._stored.clear()
            self._stored[key] = loaded
        return loaded

    async def _persistence(self, given: PersistenceProvider | None) -> PersistenceProvider:
        if given is None:
            if self._default_persistence is None:
                from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

                self._default_persistence = InMemoryPersistenceProvider()
            given = self._default_persistence
        await given.initialize()
        return given

    def _executor(self) -> ExecutionProvider:
        if self._default_executor is None:
            from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider

            self._default_executor = ThreadPoolExecutionProvider(max_workers=10)
        return self._default_executor


def _warn_unknown_keys(loaded: LoadedDefinition, data: Mapping[str, Any]) -> None:
    """Warn once about initial-data keys the state model drops.

    Initial data follows the rule of step results: under extra='ignore' unknown keys are dropped with
    one warning; under 'forbid' validation refuses them; under 'allow' they are stored.
    """
    model = loaded.state_model
    if extra_mode(model) != "ignore":
        return
    known = accepted_keys(model)
    unknown = [key for key in data if key not in known]
    if unknown:
        _log.warning(
            "initial_data for workflow type '%s' has the key(s) %s, which %s does not have; they "
            "are dropped (the model ignores extra keys). Fix the key names or add the fields.",
            loaded.definition.workflow_type,
            ", ".join(repr(key) for key in unknown),
            model.__name__,
        )


def _describe_state_errors(
    exc: ValidationError, workflow_type: str, loaded: LoadedDefinition
) -> str:
    problems = "; ".join(
        f"'{'.'.join(str(p) for p in err['loc']) or '(root)'}': {err['msg']}"
        for err in exc.errors()
    )
    return (
        f"initial_data for workflow type '{workflow_type}' does not fit the state model "
        f"{loaded.definition.initial_state_model}: {problems}. Pass the missing or corrected fields."
    )
