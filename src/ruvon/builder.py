"""WorkflowBuilder: finds workflow definitions and creates or reloads workflows from them."""

from __future__ import annotations

import copy
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ruvon.definition import LoadedDefinition, load_definition
from ruvon.definition_checks import walk
from ruvon.errors import ConfigurationError, DefinitionError, StateValidationError, WorkflowNotFound
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.providers.template_engine import TemplateEngine
from ruvon.results import accepted_keys, extra_mode
from ruvon.step_models import SubWorkflowStep
from ruvon.template_names import TemplateNames
from ruvon.workflow import Workflow
from ruvon.yaml_source import read_yaml

REGISTRY_FILE = "workflow_registry.yaml"
#: How many stored workflows ``list_workflows`` reads when it filters by owner keys.
OWNER_SCAN_LIMIT = 10_000
_log = logging.getLogger("ruvon.workflow")


@dataclass(slots=True)
class _Entry:
    """Where one workflow type is defined."""

    workflow_type: str
    path: Path
    state_model: str | None = None
    raw: Mapping[str, Any] | None = None  # a definition given as data, not read from ``path``


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
        persistence_provider: The store ``create_workflow`` and ``load_workflow`` use when they are
            not given one (default: one in-memory store per builder).
        execution_provider: The executor they use when not given one (default: a thread pool).
        observer: The observer they use when not given one (default: none).
        registry_path: The path of a registry YAML (the published SDK's name for passing a path as
            ``workflow_registry``).
        expression_evaluator: The SDK's name for ``expression_evaluator_cls``; a class, or an
            instance whose class is used.
        template_engine: The SDK's name for ``template_engine_cls``; a class or an instance.
    """

    def __init__(
        self,
        workflow_registry: Mapping[str, Any] | str | Path | None = None,
        expression_evaluator_cls: type[ExpressionEvaluator] = SimpleExpressionEvaluator,
        template_engine_cls: type[TemplateEngine] = Jinja2TemplateEngine,
        config_dir: str | Path | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        observer: WorkflowObserver | None = None,
        registry_path: str | Path | None = None,
        expression_evaluator: ExpressionEvaluator | type[ExpressionEvaluator] | None = None,
        template_engine: TemplateEngine | type[TemplateEngine] | None = None,
    ) -> None:
        self.config_dir = Path(config_dir or os.environ.get("RUVON_CONFIG_DIR") or "config")
        self.expression_evaluator_cls = _class_of(expression_evaluator, expression_evaluator_cls)
        self.template_engine_cls = _class_of(template_engine, template_engine_cls)
        self.parameters = dict(parameters or {})
        self._entries: dict[str, _Entry] = {}
        self._unreadable: list[DefinitionError] = []
        self._loaded: dict[str, LoadedDefinition] = {}
        self._default_persistence: PersistenceProvider | None = persistence_provider
        self._store_given = persistence_provider is not None
        self._default_executor: ExecutionProvider | None = execution_provider
        self.observer = observer
        #: What templates may read as env.X / secrets.X (a registry file may add names).
        self.template_names = TemplateNames.from_sources()
        if workflow_registry is None and registry_path is not None:
            workflow_registry = registry_path
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
            except DefinitionError as exc:
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

    # -- building --------------------------------------------------------------------------------
    async def create_workflow(
        self,
        workflow_type: str,
        persistence_provider: PersistenceProvider | Mapping[str, Any] | None = None,
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
        owner_id: str | None = None,
        org_id: str | None = None,
        priority: int | None = None,
        data_region: str | None = None,
    ) -> Workflow:
        """Create, save and return a new ACTIVE workflow of ``workflow_type``.

        Omitted providers get the builder's (``WorkflowBuilder(persistence_provider=...,
        execution_provider=..., observer=...)``), else defaults shared by this builder: in-memory
        persistence, a thread pool of 10 workers and no observer. A dict as the second positional
        argument is ``initial_data`` (``create_workflow("Order", {"id": 1})``, as the published SDK
        allows). ``metadata`` is the caller's own data, saved with the workflow
        (``workflow.metadata``) and given to step functions as ``context.metadata``; the engine
        never writes to it.

        ``owner_id``, ``org_id``, ``priority`` and ``data_region`` (the published SDK's
        multi-tenancy keys) are saved with the workflow (``workflow.owner_id``, ...) and filter
        ``list_workflows``.

        When the first step has ``automate_start: true``, it runs before this returns (and the
        steps after it while they chain).

        Raises:
            WorkflowNotFound: The type is unknown (the message lists the known ones).
            DefinitionError: The definition, its state model or a function is invalid.
            StateValidationError: ``initial_data`` does not fit the state model.
        """
        if isinstance(persistence_provider, Mapping):
            if initial_data is not None:
                raise ConfigurationError(
                    f"create_workflow('{workflow_type}', ...) got initial data twice: as the second "
                    f"positional argument and as initial_data=. Pass it once."
                )
            persistence_provider, initial_data = None, persistence_provider
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
            observer=workflow_observer or self.observer or NoopObserver(),
            expression_evaluator_cls=expression_evaluator_cls or self.expression_evaluator_cls,
            template_engine_cls=template_engine_cls or self.template_engine_cls,
            builder=workflow_builder or self,
            parent_id=parent_id,
            metadata=dict(metadata or {}),
        )
        owner = {"owner_id": owner_id, "org_id": org_id, "priority": priority}
        owner["data_region"] = data_region
        workflow.engine.owner = {key: value for key, value in owner.items() if value is not None}
        await workflow.start()
        if workflow.steps[0].automate_start:  # the SDK's "this step starts by itself"
            await workflow.next_step()
        return workflow

    async def load_workflow(
        self,
        workflow_id: str | uuid.UUID,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
    ) -> Workflow:
        """Reload a saved workflow with the definition it was started with.

        Uses ``persistence_provider``, else the builder's store (see the constructor).

        Raises:
            WorkflowNotFound: No workflow with that id is stored (when the builder only has its own
                in-memory store, the message says how to point it at a database).
        """
        workflow_id = str(workflow_id)
        persistence = await self._persistence(persistence_provider)
        try:
            record = await persistence.load_workflow(workflow_id)
        except WorkflowNotFound as exc:
            if persistence_provider is not None or self._store_given:
                raise
            raise WorkflowNotFound(
                f"{exc} This builder has no store of its own, so it looked in the in-memory store "
                f"of this process only. To reload workflows saved elsewhere, create the builder "
                f"with one: WorkflowBuilder(persistence_provider=SQLitePersistenceProvider("
                f"'ruvon.db')), or pass persistence_provider=... to load_workflow."
            ) from None
        source = f"the definition stored with workflow {workflow_id} ({record.workflow_type})"
        loaded = load_definition(record.definition, source=source)
        loaded.template_names = self.template_names
        state = loaded.state_model.model_validate(record.state)
        return Workflow(
            workflow_id=record.id,
            loaded=loaded,
            state=state,
            persistence=persistence,
            executor=execution_provider or self._executor(),
            observer=workflow_observer or self.observer or NoopObserver(),
            expression_evaluator_cls=self.expression_evaluator_cls,
            template_engine_cls=self.template_engine_cls,
            builder=self,
            record=record,
        )

    async def list_workflows(
        self,
        *,
        status: str | None = None,
        workflow_type: str | None = None,
        owner_id: str | None = None,
        org_id: str | None = None,
        priority: int | None = None,
        limit: int = 100,
        persistence_provider: PersistenceProvider | None = None,
    ) -> list[WorkflowRecord]:
        """Stored workflows, newest first, filtered by status, type and the owner keys given.

        The owner filters are applied to the records the store returns (up to
        ``OWNER_SCAN_LIMIT`` of them), so they suit dashboards and tests, not millions of rows.
        """
        persistence = await self._persistence(persistence_provider)
        wanted = {"owner_id": owner_id, "org_id": org_id, "priority": priority}
        wanted = {key: value for key, value in wanted.items() if value is not None}
        scan = OWNER_SCAN_LIMIT if wanted else limit
        records = await persistence.list_workflows(
            status=status, workflow_type=workflow_type, limit=scan
        )
        if wanted:
            records = [r for r in records if _owned(r, wanted)]
        return records[:limit]

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


def _owned(record: WorkflowRecord, wanted: Mapping[str, Any]) -> bool:
    owner = record.engine.get("owner") if isinstance(record.engine, Mapping) else None
    return isinstance(owner, Mapping) and all(owner.get(k) == v for k, v in wanted.items())


def _class_of(given: Any, default: type[Any]) -> Any:
    """``given`` if it is a class, its class if it is an instance, else ``default``."""
    if given is None:
        return default
    return given if isinstance(given, type) else type(given)


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
