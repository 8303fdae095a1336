"""WorkflowBuilder: finds workflow definitions and creates or reloads workflows from them."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from ruvon import state_migrations
from ruvon.catalog import DefinitionCatalog
from ruvon.definition import LoadedDefinition, load_definition
from ruvon.errors import (
    ConfigurationError,
    StateValidationError,
    WorkflowLoadError,
    WorkflowNotFound,
)
from ruvon.ids import new_workflow_id
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.observability.env import env_observer
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.providers.template_engine import TemplateEngine
from ruvon.results import accepted_keys, extra_mode
from ruvon.state_json import validate_state
from ruvon.workflow import Workflow

if TYPE_CHECKING:
    from ruvon.runtime.start import Started

#: How many stored workflows ``list_workflows`` reads when it filters by owner keys.
OWNER_SCAN_LIMIT = 10_000
_STORED_DEFINITIONS = 64
_log = logging.getLogger("ruvon.workflow")


class WorkflowBuilder(DefinitionCatalog):
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
        super().__init__(
            registry_path if workflow_registry is None else workflow_registry,
            Path(config_dir or os.environ.get("RUVON_CONFIG_DIR") or "config"),
            parameters,
        )
        self.expression_evaluator_cls = _class_of(expression_evaluator, expression_evaluator_cls)
        self.template_engine_cls = _class_of(template_engine, template_engine_cls)
        self._default_persistence: PersistenceProvider | None = persistence_provider
        self._store_given = persistence_provider is not None
        self._default_executor: ExecutionProvider | None = execution_provider
        self.observer = observer
        self._stored: dict[str, LoadedDefinition] = {}

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
        idempotency_key: str | None = None,
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

        With ``idempotency_key``, a key used before returns the first workflow started with it
        (loaded, whatever the data; a warning says when they differ).

        When the first step has ``automate_start: true``, it runs before this returns (and the
        steps after it while they chain).

        Raises:
            WorkflowNotFound: The type is unknown (the message lists the known ones).
            DefinitionError: The definition, its state model or a function is invalid.
            StateValidationError: ``initial_data`` does not fit the state model.
        """
        if (  # a provider is told apart by its class, without ABC isinstance checks
            persistence_provider is not None
            and not hasattr(type(persistence_provider), "save_workflow")
            and isinstance(persistence_provider, Mapping)
        ):
            if initial_data is not None:
                raise ConfigurationError(
                    f"create_workflow('{workflow_type}', ...) got initial data twice: as the second "
                    f"positional argument and as initial_data=. Pass it once."
                )
            persistence_provider, initial_data = None, persistence_provider
        provider = cast(PersistenceProvider | None, persistence_provider)  # a Mapping went above
        if idempotency_key is not None:
            from ruvon.runtime.start import check_key

            persistence = await self._persistence(provider)
            proposed = workflow_id or new_workflow_id()
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
            state = validate_state(loaded.state_model, data)
        except ValidationError as exc:
            raise StateValidationError(_describe_state_errors(exc, workflow_type, loaded)) from None
        persistence = await self._persistence(provider)
        workflow = Workflow(
            workflow_id=workflow_id or new_workflow_id(),
            loaded=loaded,
            state=state,
            persistence=persistence,
            executor=execution_provider or self._executor(),
            observer=env_observer(workflow_observer or self.observer) or NoopObserver(),
            expression_evaluator_cls=expression_evaluator_cls or self.expression_evaluator_cls,
            template_engine_cls=template_engine_cls or self.template_engine_cls,
            builder=workflow_builder or self,
            parent_id=parent_id,
            metadata=dict(metadata or {}),
        )
        given = (owner_id, org_id, priority, data_region)
        if given != (None, None, None, None):  # the multi-tenancy keys, when any is given
            owner = {"owner_id": owner_id, "org_id": org_id, "priority": priority}
            owner["data_region"] = data_region
            workflow.engine.owner = _owner_keys(workflow_type, owner)
        await workflow.start()
        if workflow.steps[0].automate_start:  # the SDK's "this step starts by itself"
            await workflow.next_step()
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
            WorkflowLoadError: The stored state or definition does not load with the current code
                (after the state migrations, see ``ruvon.state_migrations``); the workflow was
                marked FAILED with the same message, naming the field or function.
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
        try:  # migrations of the stored state; a workflow that cannot load is marked FAILED
            prepared = state_migrations.prepare(self, record)
        except WorkflowLoadError as exc:
            await state_migrations.mark_failed(persistence, record, str(exc))
            raise
        record = await state_migrations.persist(persistence, record, prepared)
        loaded, state = prepared.loaded, prepared.state
        loaded.template_names = self.template_names
        return Workflow(
            workflow_id=record.id,
            loaded=loaded,
            state=state,
            persistence=persistence,
            executor=execution_provider or self._executor(),
            observer=env_observer(workflow_observer or self.observer) or NoopObserver(),
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
    if not data or extra_mode(model) != "ignore":
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


def _owner_keys(workflow_type: str, given: dict[str, Any]) -> dict[str, Any]:
    """The multi-tenancy keys given (``None`` left out), checked to be plain values.

    They are saved with the workflow's engine record, which stores keep as JSON data.
    """
    for key, value in given.items():
        expected = int if key == "priority" else str
        if value is not None and (type(value) is not expected):
            raise ConfigurationError(
                f"create_workflow('{workflow_type}', {key}=...) got {type(value).__name__} "
                f"{value!r:.80}; {key} must be {'an int' if expected is int else 'a string'}."
            )
    return {key: value for key, value in given.items() if value is not None}
