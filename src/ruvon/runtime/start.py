"""Start workflows for serving workers to run, with global idempotency keys.

``start_workflow`` saves a new ACTIVE workflow and hands it to ``ruvon serve`` workers without
driving it. An idempotency key maps to the first workflow started with it, whatever the data of
later starts; a later start with other data is told so (``Started.data_differs``) and logged.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ruvon.errors import ConfigurationError, VersionConflict, WorkflowNotFound
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.leases import LeaseStore, dump_json, lease_store_for

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder

_log = logging.getLogger("ruvon.runtime")


@dataclass(frozen=True, slots=True)
class Started:
    """The outcome of ``start_workflow``.

    Attributes:
        workflow_id: The workflow's id (the first one started with the idempotency key, if given).
        created: False when the key had started a workflow already and nothing new was saved.
        data_differs: The key's first workflow was started with other data than this call's.
    """

    workflow_id: str
    created: bool = True
    data_differs: bool = False


def data_hash(data: Mapping[str, Any]) -> str:
    """A stable hash of initial data (key order does not matter)."""
    text = dump_json(_sorted(dict(data)))
    return hashlib.sha256(text.encode()).hexdigest()


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_sorted(item) for item in value]
    return value


def leases_of(persistence: PersistenceProvider) -> LeaseStore:
    """The lease store of ``persistence``, or a ConfigurationError saying which stores have one."""
    store = lease_store_for(persistence)
    if store is None:
        raise ConfigurationError(
            f"{type(persistence).__name__} keeps no leases, so workflows cannot be handed to serving "
            f"workers or keyed for idempotency. Use a SQLite file, PostgreSQL or the in-memory "
            f"provider."
        )
    return store


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What an idempotency key says before a workflow is created."""

    workflow_id: str
    exists: bool
    data_differs: bool


async def check_key(
    persistence: PersistenceProvider, key: str, proposed_id: str, data: Mapping[str, Any]
) -> KeyCheck:
    """Register ``key`` for ``proposed_id``; say whether it names an existing workflow.

    When the key was registered by a start that died before saving its workflow, the caller
    creates that workflow (under the key's id) now.
    """
    digest = data_hash(data)
    entry = await leases_of(persistence).register_key(key, proposed_id, digest)
    differs = entry.data_hash != digest
    if differs:
        _log.warning(
            "idempotency key %r: workflow %s was started with other data; returning it unchanged",
            key,
            entry.workflow_id,
        )
    if entry.created:
        return KeyCheck(entry.workflow_id, exists=False, data_differs=False)
    try:
        await persistence.load_workflow(entry.workflow_id)
    except WorkflowNotFound:
        return KeyCheck(entry.workflow_id, exists=False, data_differs=differs)
    return KeyCheck(entry.workflow_id, exists=True, data_differs=differs)


async def start_workflow(
    builder: WorkflowBuilder,
    workflow_type: str,
    initial_data: Mapping[str, Any] | None = None,
    *,
    persistence_provider: PersistenceProvider | None = None,
    idempotency_key: str | None = None,
    workflow_id: str | None = None,
) -> Started:
    """Save a new ACTIVE workflow for serving workers (``ruvon serve``) and return its id.

    Raises:
        WorkflowNotFound: The type is unknown.
        StateValidationError: ``initial_data`` does not fit the state model.
        ConfigurationError: The persistence provider keeps no leases.
    """
    data = dict(initial_data or {})
    # An unknown type fails before the key is registered.
    max_active = builder.get_definition(workflow_type).definition.max_active
    persistence = await builder._persistence(persistence_provider)
    store = leases_of(persistence)
    new_id = workflow_id or str(uuid.uuid4())
    differs = False
    if idempotency_key is not None:
        check = await check_key(persistence, idempotency_key, new_id, data)
        if check.exists:
            await _requeue(store, persistence, check.workflow_id)
            return Started(check.workflow_id, created=False, data_differs=check.data_differs)
        new_id, differs = check.workflow_id, check.data_differs
    try:
        await builder.create_workflow(
            workflow_type, persistence_provider=persistence, initial_data=data, workflow_id=new_id
        )
    except VersionConflict:
        if idempotency_key is None:
            raise
        return Started(new_id, created=False, data_differs=differs)  # a concurrent start won
    if max_active is not None:
        from ruvon.runtime.timer_store import timers_of

        timers = timers_of(persistence, f"max_active of '{workflow_type}'")
        await timers.set_limit(workflow_type, max_active)
        await timers.enqueue(new_id)  # QUEUED: a worker admits it when a slot is free
        return Started(new_id, created=True, data_differs=differs)
    await store.queue(new_id)
    return Started(new_id, created=True, data_differs=differs)


async def _requeue(store: LeaseStore, persistence: PersistenceProvider, workflow_id: str) -> None:
    """Queue again a keyed workflow whose first start died between saving and queueing it."""
    record = await persistence.load_workflow(workflow_id)
    if record.status == "ACTIVE":
        await store.queue(workflow_id)


async def queue_for_workers(persistence: PersistenceProvider, workflow_id: str) -> None:
    """Hand a workflow to serving workers if the store keeps leases (else nothing)."""
    from ruvon.runtime.session import unwrap

    store = lease_store_for(unwrap(persistence))
    if store is not None:
        await store.queue(workflow_id)


async def hand_to_workers(parent_id: str, persistence: PersistenceProvider, child: Any) -> bool:
    """Under a serving worker, queue an ACTIVE child for any worker instead of running it inline.

    Returns whether the parent should just wait (PENDING_SUB_WORKFLOW); the child's end wakes it.
    """
    from ruvon.runtime import signals

    signal = signals.current(parent_id)
    if signal is None or not signal.serving:
        return False
    if child.status == "ACTIVE":
        await queue_for_workers(persistence, child.id)
    return True
