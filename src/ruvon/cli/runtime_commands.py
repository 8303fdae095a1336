"""The runtime commands: ``start``, ``serve``, ``status``, ``scan-zombies``, and ``cancel``.

Coroutines that return the exit code, like :mod:`ruvon.cli.commands`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ruvon.cli.commands import Session, make_executor
from ruvon.cli.exits import EXIT_OK
from ruvon.cli.render import format_time, status_text
from ruvon.cli.store import opened_store
from ruvon.runtime.leases import LeaseStore, WorkerInfo, Zombie
from ruvon.runtime.serve import ServeOptions, serve
from ruvon.runtime.session import request_cancel
from ruvon.runtime.start import leases_of, start_workflow


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


async def start_stored(
    session: Session,
    workflow_type: str,
    data: dict[str, Any],
    idempotency_key: str | None,
    as_json: bool,
) -> int:
    """Save a new ACTIVE workflow for serving workers; print its id."""
    async with opened_store(session.db) as store:
        started = await start_workflow(
            session.builder(),
            workflow_type,
            data,
            persistence_provider=store,
            idempotency_key=idempotency_key,
        )
    if as_json:
        _emit_json(
            {
                "workflow_id": started.workflow_id,
                "created": started.created,
                "data_differs": started.data_differs,
            }
        )
        return EXIT_OK
    sys.stdout.write(started.workflow_id + "\n")
    if not started.created and not started.data_differs:  # a data difference is logged
        note = f"idempotency key {idempotency_key!r} already started workflow {started.workflow_id}"
        session.err.print(Text(f"note: {note}.", style="yellow"))
    return EXIT_OK


async def serve_store(
    session: Session,
    options: ServeOptions,
    executor_kind: str,
    workers: int,
    *,
    http: str | None = None,
    drive: bool = True,
    token: str | None = None,
) -> int:
    """Serve the store until SIGTERM/SIGINT; exit 0 after a clean stop.

    With ``http`` also serve the HTTP API and dashboard there (only them with ``drive=False``).
    """
    logging.getLogger("ruvon.runtime").setLevel(logging.INFO)
    if http is not None:
        from ruvon.cli.server_cmds import serve_with_http

        return await serve_with_http(session, options, executor_kind, workers, http, drive, token)
    executor = make_executor(executor_kind, max(workers, options.concurrency))
    try:
        async with opened_store(session.db) as store:
            stats = await serve(session.builder(), store, executor, options)
    finally:
        executor.close()
    session.err.print(
        Text(
            f"stopped: {stats.claimed} claimed, {stats.finished} driven to a stop, "
            f"{stats.lost} leases lost, {stats.errors} errors"
        )
    )
    return EXIT_OK


async def status_of(session: Session, lease_seconds: float, as_json: bool) -> int:
    """Print the live serving processes and the workflows they hold."""
    async with opened_store(session.db, create=False) as store:
        found = await leases_of(store).workers(time.time() - 3 * lease_seconds)
    if as_json:
        _emit_json([_worker_json(worker) for worker in found])
        return EXIT_OK
    if not found:
        session.out.print(Text("no live workers ('ruvon serve' starts one)", style="dim"))
        return EXIT_OK
    session.out.print(_workers_table(found))
    return EXIT_OK


def _worker_json(worker: WorkerInfo) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "concurrency": worker.concurrency,
        "types": worker.types,
        "started_at": worker.started_at,
        "heartbeat_at": worker.heartbeat_at,
        "holds": [{"id": i, "type": t, "lease_expires_at": e} for i, t, e in worker.holds],
    }


def _workers_table(found: Sequence[WorkerInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("worker", "pid", "since", "last beat", "concurrency", "types", "holds"):
        table.add_column(column)
    for worker in found:
        holds = "\n".join(f"{wid} ({wtype})" for wid, wtype, _ in worker.holds) or "-"
        table.add_row(
            Text(worker.id),
            str(worker.pid),
            format_time(worker.started_at),
            f"{time.time() - worker.heartbeat_at:.1f}s ago",
            str(worker.concurrency),
            Text(", ".join(worker.types) or "all"),
            Text(holds),
        )
    return table


async def scan_zombies(session: Session, fix: bool, as_json: bool) -> int:
    """List unfinished workflows whose owner's lease expired; with ``fix``, fail them."""
    async with opened_store(session.db, create=False) as store:
        leases = leases_of(store)
        now = time.time()
        zombies = await leases.zombies(now)
        failed = await leases.fail_zombies([z.workflow_id for z in zombies], now) if fix else []
    if as_json:
        _emit_json([_zombie_json(z, z.workflow_id in failed) for z in zombies])
        return EXIT_OK
    if not zombies:
        session.out.print(Text("no zombie workflows", style="dim"))
        return EXIT_OK
    session.out.print(_zombies_table(zombies, set(failed)))
    if not fix:
        session.out.print(
            Text(
                f"{len(zombies)} workflow(s) lost their owner. A running 'ruvon serve' picks ACTIVE "
                f"ones up by itself; --fix marks them FAILED_WORKER_CRASH instead."
            )
        )
    return EXIT_OK


def _zombie_json(zombie: Zombie, fixed: bool) -> dict[str, Any]:
    return {
        "id": zombie.workflow_id,
        "type": zombie.workflow_type,
        "status": "FAILED_WORKER_CRASH" if fixed else zombie.status,
        "owner": zombie.owner,
        "lease_expired_at": zombie.expired_at,
    }


def _zombies_table(zombies: Sequence[Zombie], failed: set[str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "type", "status", "owner", "lease expired"):
        table.add_column(column)
    for zombie in zombies:
        status = "FAILED_WORKER_CRASH" if zombie.workflow_id in failed else zombie.status
        table.add_row(
            Text(zombie.workflow_id),
            Text(zombie.workflow_type),
            status_text(status),
            Text(zombie.owner),
            format_time(zombie.expired_at),
        )
    return table


async def cancel_stored(session: Session, workflow_id: str) -> int:
    """Mark a stored, unfinished workflow CANCELLED at once; its driver (if any) stops."""
    async with opened_store(session.db, create=False, workflow_id=workflow_id) as store:
        leases: LeaseStore = leases_of(store)
        _, owner = await request_cancel(leases, workflow_id, "ruvon cancel")
    line = Text(f"workflow {workflow_id} ") + status_text("CANCELLED")
    if owner is not None:
        line += Text(f" (its driver {owner} stops within one heartbeat)")
    session.out.print(line)
    return EXIT_OK


async def deliver_input(session: Session, workflow_id: str, data: dict[str, Any]) -> int:
    """Store human input for a WAITING_HUMAN workflow; a serving worker runs the step."""
    async with opened_store(session.db, create=False, workflow_id=workflow_id) as store:
        await leases_of(store).deliver_input(workflow_id, data)
    session.out.print(Text(f"input delivered to workflow {workflow_id}; a serving worker goes on"))
    return EXIT_OK
