"""Upgrade the stored state of in-flight workflows when the code changed: migration functions keyed
by ``workflow_version``, and a clear FAILED instead of an exception when a workflow cannot load.

A stored workflow keeps the definition it started with, but its state model and functions are
imported from the current code. When a model gains a required field, an old state no longer
validates. Migration functions bridge that: each takes the stored state as a plain dict and returns
the upgraded dict. They come from the *current* definition of the workflow type::

    workflow_type: Onboarding
    workflow_version: "3"
    migrations:
      "1": myapp.migrations.v1_to_v2          # from "1" to the next version: see below
      "2": {function: myapp.migrations.v2_to_v3, to: "3"}

or from code, with :func:`migration`::

    @ruvon.state_migrations.migration("Onboarding", from_version="1", to_version="2")
    def v1_to_v2(state: dict) -> dict: ...

Starting from the stored ``workflow_version``, the loader applies the migration registered for that
version, moves to its ``to`` version (default: the current ``workflow_version``) and repeats until
no migration is registered for the version reached. Then the state is validated against the model.
The workflow carries the version reached (saved with its next save); until that save, the
functions run again on every load, so they must be pure.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ruvon.errors import DefinitionError, RuvonError, WorkflowLoadError
from ruvon.providers.persistence import LogEntry, PersistenceProvider, WorkflowRecord

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.definition import LoadedDefinition

MigrationFunction = Callable[[dict[str, Any]], dict[str, Any]]
MAX_CHAIN = 100

_REGISTRY: dict[tuple[str, str], tuple[MigrationFunction, str | None]] = {}

_ENDED = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "FAILED_ROLLED_BACK",
        "FAILED_CHILD_WORKFLOW",
        "CANCELLED",
        "FAILED_WORKER_CRASH",
    }
)


def migration(
    workflow_type: str, *, from_version: str, to_version: str | None = None
) -> Callable[[MigrationFunction], MigrationFunction]:
    """Decorator: register ``f(state: dict) -> dict`` as the migration of ``workflow_type``'s
    stored state from ``from_version`` (to ``to_version``; default: the current version)."""

    def register(func: MigrationFunction) -> MigrationFunction:
        _REGISTRY[(workflow_type, str(from_version))] = (func, to_version)
        return func

    return register


def unregister(workflow_type: str, from_version: str) -> None:
    """Remove a migration registered with :func:`migration` (tests)."""
    _REGISTRY.pop((workflow_type, str(from_version)), None)


@dataclass(frozen=True, slots=True)
class Step:
    """One migration: the function (or its dotted path) and the version it produces."""

    name: str
    function: MigrationFunction | None
    to: str | None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A stored workflow ready to run: its definition (at the state's version) and its state."""

    loaded: LoadedDefinition
    state: BaseModel
    migrated_from: str | None = None


def _current(builder: WorkflowBuilder, workflow_type: str) -> LoadedDefinition | None:
    try:
        return builder.get_definition(workflow_type)
    except RuvonError:  # unknown here, or the current file is broken: no migrations from it
        return None


def migrations_of(
    builder: WorkflowBuilder, workflow_type: str
) -> tuple[dict[str, Step], str | None]:
    """The migrations of ``workflow_type`` (YAML and registered) and its current version.

    Raises:
        WorkflowLoadError: A migration function named in the definition cannot be imported or
            does not take one argument.
    """
    current = _current(builder, workflow_type)
    steps: dict[str, Step] = {}
    version = None
    if current is not None:
        version = current.definition.workflow_version
        for source, spec in current.definition.migrations.items():
            path, to = (spec, None) if isinstance(spec, str) else (spec.function, spec.to)
            steps[source] = Step(path, _import(path, workflow_type), to)
    for (kind, source), (func, to) in _REGISTRY.items():
        if kind == workflow_type:
            name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
            steps[source] = Step(name, func, to)
    return steps, version


def _import(path: str, workflow_type: str) -> MigrationFunction:
    from ruvon.loading import import_object

    try:
        func = import_object(path)
    except (ImportError, DefinitionError) as exc:
        raise WorkflowLoadError(
            f"The migration function '{path}' of workflow type '{workflow_type}' cannot be "
            f"imported ({exc}). Fix the path under 'migrations:' in its definition or the module."
        ) from None
    if not callable(func):
        raise WorkflowLoadError(
            f"The migration '{path}' of workflow type '{workflow_type}' is not a function; it "
            f"must be f(state: dict) -> dict."
        )
    try:
        inspect.signature(func).bind({})
    except TypeError:
        raise WorkflowLoadError(
            f"The migration function '{path}' of workflow type '{workflow_type}' cannot be called "
            f"with one argument (the state as a dict); write it as f(state: dict) -> dict."
        ) from None
    except ValueError:  # no signature (a builtin): trust it
        pass
    return func  # type: ignore[no-any-return]


def migrate(
    record: WorkflowRecord, steps: Mapping[str, Step], current_version: str | None
) -> tuple[dict[str, Any], str]:
    """Apply the chain of migrations to the record's state; return it and the version reached.

    Raises:
        WorkflowLoadError: A migration raised or returned something that is not a dict.
    """
    state = dict(record.state)
    version = record.workflow_version
    for _ in range(MAX_CHAIN):
        step = steps.get(version)
        if step is None or step.function is None or version == current_version:
            break
        try:
            result = step.function(dict(state))
        except Exception as exc:
            raise WorkflowLoadError(
                f"Workflow {record.id} ({record.workflow_type}): the migration function "
                f"'{step.name}' from version {version} raised {type(exc).__name__}: {exc}. Fix it "
                f"(it gets the stored state as a dict), then 'ruvon retry {record.id}'."
            ) from None
        if not isinstance(result, dict):
            raise WorkflowLoadError(
                f"Workflow {record.id} ({record.workflow_type}): the migration function "
                f"'{step.name}' returned {type(result).__name__}, not a dict. Return the upgraded "
                f"state."
            )
        state = result
        target = step.to or current_version
        if target is None or target == version:
            break
        version = str(target)
    return state, version


def validation_hint(
    record: WorkflowRecord,
    model: type[BaseModel],
    exc: ValidationError,
    version: str,
    current_version: str | None = None,
) -> str:
    """The message for a stored state that does not fit the current model."""
    fields = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "(root)"
        fields.append(f"'{where}': {error['msg']}")
    bump = ""
    if current_version == version:  # a migration from the current version never runs
        bump = f"raise workflow_version of {record.workflow_type} above {version} and "
    return (
        f"Workflow {record.id} ({record.workflow_type}, stored at workflow_version {version}) "
        f"cannot be loaded: its state does not fit {model.__module__}.{model.__qualname__}: "
        f"{'; '.join(fields)}. Give the field a default, or {bump}add a migration for version "
        f"{version} (under 'migrations:' in the definition of {record.workflow_type}, "
        f"'\"{version}\": package.module.function' taking and returning the state as a dict), "
        f"then 'ruvon retry {record.id}'."
    )


def prepare(builder: WorkflowBuilder, record: WorkflowRecord) -> Prepared:
    """Load the record's stored definition, migrate its state and validate it.

    Raises:
        WorkflowLoadError: Naming the field or function at fault and how to fix it.
    """
    try:
        loaded = builder._stored_definition(record.workflow_type, record.definition)
    except DefinitionError as exc:
        raise WorkflowLoadError(
            f"Workflow {record.id} ({record.workflow_type}) cannot be loaded: the definition it "
            f"was started with no longer imports with the current code: {exc} Restore the "
            f"function or model (or its import path), then 'ruvon retry {record.id}'."
        ) from None
    steps, current_version = migrations_of(builder, record.workflow_type)
    state_data, version = migrate(record, steps, current_version)
    try:
        state = loaded.state_model.model_validate(state_data)
    except ValidationError as exc:
        hint = validation_hint(record, loaded.state_model, exc, version, current_version)
        raise WorkflowLoadError(hint) from None
    if version == record.workflow_version:
        return Prepared(loaded, state)
    raw = {**record.definition, "workflow_version": version}
    upgraded = builder._stored_definition(record.workflow_type, raw)
    return Prepared(upgraded, state, migrated_from=record.workflow_version)


async def mark_failed(
    persistence: PersistenceProvider, record: WorkflowRecord, message: str
) -> bool:
    """Save an unfinished record as FAILED with ``message`` as its error; return whether it was
    saved (an ended one, or one saved meanwhile by another writer, is left alone)."""
    if record.status in _ENDED:
        return False
    now = time.time()
    engine = dict(record.engine)
    engine["error"] = {"step": _step_name(record), "message": message, "at": now}
    failed = replace(record, status="FAILED", engine=engine, updated_at=now)
    entry = LogEntry(
        record.id,
        "STATUS_CHANGED",
        at=now,
        message=f"{record.status} -> FAILED (cannot be loaded: {message})",
    )
    try:
        await persistence.save_workflow(failed, log=[entry])
    except RuvonError:
        return False
    return True


def _step_name(record: WorkflowRecord) -> str:
    steps = record.definition.get("steps") if isinstance(record.definition, dict) else None
    if isinstance(steps, list) and 0 <= record.current_step < len(steps):
        step = steps[record.current_step]
        if isinstance(step, dict) and step.get("name"):
            return str(step["name"])
    return "(load)"


@dataclass(frozen=True, slots=True)
class StoredCheck:
    """The outcome of checking one in-flight workflow against the current code."""

    workflow_id: str
    workflow_type: str
    status: str
    workflow_version: str
    problem: str | None = None
    migrated_to: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the workflow loads (after its migrations)."""
        return self.problem is None


def check_record(builder: WorkflowBuilder, record: WorkflowRecord) -> StoredCheck:
    """Check that a stored workflow loads with the current code: its definition's imports and
    function signatures, its state after the migrations, and its current step. Writes nothing."""
    base = StoredCheck(record.id, record.workflow_type, record.status, record.workflow_version)
    try:
        prepared = prepare(builder, record)
    except WorkflowLoadError as exc:
        return replace(base, problem=str(exc))
    steps = prepared.loaded.steps
    if not 0 <= record.current_step <= len(steps):
        return replace(
            base,
            problem=f"Workflow {record.id} ({record.workflow_type}) is at step number "
            f"{record.current_step}, but its definition has {len(steps)} steps. Cancel it "
            f"('ruvon cancel {record.id}').",
        )
    if prepared.migrated_from is None:
        return base
    return replace(base, migrated_to=prepared.loaded.definition.workflow_version)


async def persist(
    persistence: PersistenceProvider, record: WorkflowRecord, prepared: Prepared
) -> WorkflowRecord:
    """Save a migrated state with its new ``workflow_version`` at once (version-checked), so the
    migration runs once; return the record as now stored. Left unsaved (and migrated again on the
    next load) when another writer saved the workflow meanwhile."""
    if prepared.migrated_from is None:
        return record
    from ruvon.runtime.leases import lease_store_for
    from ruvon.runtime.session import unwrap
    from ruvon.runtime.sql_leases import SqlLeaseStore

    version = prepared.loaded.definition.workflow_version
    state = prepared.state.model_dump(mode="json")
    raw = prepared.loaded.raw
    now = time.time()
    note = f"state migrated from workflow_version {prepared.migrated_from} to {version}"
    store = lease_store_for(unwrap(persistence))
    if not isinstance(store, SqlLeaseStore):
        migrated = replace(record, workflow_version=version, definition=raw, state=state)
        try:
            saved = await persistence.save_workflow(
                migrated, log=[LogEntry(record.id, "STATE_MIGRATED", at=now, message=note)]
            )
        except RuvonError:
            return record
        return replace(migrated, version=saved, updated_at=now)
    db = store._db
    async with db.transaction(f"save the migrated state of workflow '{record.id}'") as tx:
        changed = await tx.count(
            "UPDATE workflows SET workflow_version = %s, definition = %s, state = %s, "
            "version = version + 1, updated_at = %s WHERE id = %s AND version = %s",
            (version, db.to_json(raw), db.to_json(state), now, record.id, record.version),
        )
        if changed:
            await tx.count(
                "INSERT INTO execution_log (workflow_id, event, step_name, task_name, at, "
                "duration, message) VALUES (%s, 'STATE_MIGRATED', NULL, NULL, %s, NULL, %s)",
                (record.id, now, note),
            )
    if not changed:
        return record
    return replace(
        record,
        workflow_version=version,
        definition=raw,
        state=state,
        version=record.version + 1,
        updated_at=now,
    )
