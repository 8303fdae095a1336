"""The lease store on SQL: one implementation for SQLite and PostgreSQL, over the provider's own
connections and transactions (so leases, saves and schema stay in one database and one pool).

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` and wakes idle workers with ``NOTIFY``; SQLite
serializes writers on its file lock, so a claim there is atomic as it is.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ruvon.errors import PersistenceError, WorkflowNotFound, WorkflowStateError
from ruvon.implementations.persistence.schema import TASK_COLUMNS, not_found_message
from ruvon.providers.persistence import PersistenceProvider, TaskRecord
from ruvon.runtime.leases import (
    SAVED,
    TERMINAL_STATUSES,
    WAKE,
    Acquired,
    KeyEntry,
    LeaseStore,
    Renewal,
    WorkerInfo,
    Zombie,
    dump_json,
    fence_verdict,
    held_error,
)

_log = logging.getLogger("ruvon.runtime")

CHANNEL = "ruvon_work"
NOTIFY_SQL = "SELECT pg_notify(%s, current_schema())"
"""Notifications carry the schema, so stores in other schemas of one database ignore them."""
_ENDED = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)
_RUNNABLE = (
    "status IN ('ACTIVE', 'WAITING_HUMAN', 'PENDING_SUB_WORKFLOW') "
    "AND (status = 'ACTIVE' OR pending_input IS NOT NULL) "
    "AND ((owner IS NULL AND (queued_at IS NOT NULL OR pending_input IS NOT NULL)) "
    "OR lease_expires_at < %s)"
)
_UPSERT_TASK = (
    f"INSERT INTO task_results ({', '.join(TASK_COLUMNS)}) "
    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    f"ON CONFLICT (workflow_id, step_name, task_name) DO UPDATE SET status = excluded.status, "
    f"result = excluded.result, error = excluded.error, started_at = excluded.started_at, "
    f"ended_at = excluded.ended_at"
)
_INSERT_LOG = (
    "INSERT INTO execution_log (workflow_id, event, step_name, task_name, at, duration, message) "
    "VALUES (%s, 'STATUS_CHANGED', NULL, NULL, %s, NULL, %s)"
)


class Tx(Protocol):
    """One open transaction."""

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql``; return its rows (none for a statement without RETURNING)."""

    async def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run ``sql``; return the number of rows it changed."""

    async def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` once per parameter tuple."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the databases."""

    transaction: Callable[[str], AbstractAsyncContextManager[Tx]]
    statement: Callable[[str], AbstractAsyncContextManager[Tx]]  # no BEGIN/COMMIT around it
    # One statement on its own (autocommit), its rows returned: ``statement`` without the context
    # manager (~8k instructions less), for the lease taken at every driving session. The message
    # is ``what`` filled with the argument (built only when the statement fails).
    one: Callable[[str, str, str, Sequence[Any]], Awaitable[list[tuple[Any, ...]]]]
    label: Callable[[], str]
    to_json: Callable[[Any], Any]
    from_json: Callable[[Any], Any]
    skip_locked: str = ""
    share_lock: str = ""
    row_lock: str = ""
    notify: bool = False


_TAKE = "take the lease of workflow '{}'"
_RELEASE = "release the lease of workflow '{}'"


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


class SqlLeaseStore(LeaseStore):
    """The lease store of a SQLite or PostgreSQL persistence provider."""

    def __init__(self, dialect: Dialect) -> None:
        self._db = dialect
        # Lease changes commit durably, like saves: a lease a crashed database server forgot
        # could let a second driver run a step the first one is still running.
        self._acquire = (
            "UPDATE workflows SET owner = %s, lease_expires_at = %s "
            "WHERE id = %s AND (owner IS NULL OR owner = %s) RETURNING version"
        )
        self._release = "UPDATE workflows SET owner = NULL, lease_expires_at = NULL WHERE id = %s AND owner = %s"

    async def acquire(
        self, workflow_id: str, owner: str, ttl: float, *, dead_owner: str | None = None
    ) -> Acquired:
        """See :meth:`LeaseStore.acquire`."""
        now = time.time()
        rows = await self._db.one(
            _TAKE, workflow_id, self._acquire, (owner, now + ttl, workflow_id, owner)
        )
        if rows:
            return Acquired(int(rows[0][0]))
        what = _TAKE.format(workflow_id)
        async with self._db.transaction(what) as tx:
            held = await tx.rows(
                "SELECT owner, lease_expires_at FROM workflows WHERE id = %s" + self._db.row_lock,
                (workflow_id,),
            )
            if not held:
                raise WorkflowNotFound(not_found_message(workflow_id, self._db.label()))
            holder, expires = str(held[0][0]), float(held[0][1])
            if expires >= now and holder != dead_owner:
                raise held_error(workflow_id, holder, expires)
            rows = await tx.rows(  # take over: the version bump fences the old holder out
                "UPDATE workflows SET owner = %s, lease_expires_at = %s, version = version + 1 "
                "WHERE id = %s RETURNING version",
                (owner, now + ttl, workflow_id),
            )
        return Acquired(int(rows[0][0]), took_over_from=holder)

    async def release(self, workflow_id: str, owner: str) -> None:
        """See :meth:`LeaseStore.release`."""
        await self._db.one(_RELEASE, workflow_id, self._release, (workflow_id, owner))

    async def renew(self, owners: Sequence[str], ttl: float) -> list[Renewal]:
        """See :meth:`LeaseStore.renew`."""
        if not owners:
            return []
        async with self._db.statement("renew leases") as tx:
            rows = await tx.rows(
                f"UPDATE workflows SET lease_expires_at = %s WHERE owner IN ({_marks(len(owners))}) "
                f"RETURNING id, owner, status",
                (time.time() + ttl, *owners),
            )
        return [Renewal(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def claim(
        self, owner: str, limit: int, ttl: float, types: Sequence[str] = ()
    ) -> list[str]:
        """See :meth:`LeaseStore.claim`."""
        now = time.time()
        only = f" AND workflow_type IN ({_marks(len(types))})" if types else ""
        async with self._db.statement("claim runnable workflows") as tx:
            rows = await tx.rows(
                "UPDATE workflows SET owner = %s, lease_expires_at = %s, version = version + "
                "CASE WHEN owner IS NULL THEN 0 ELSE 1 END WHERE id IN ("
                f"SELECT id FROM workflows WHERE {_RUNNABLE}{only} "
                f"ORDER BY created_at LIMIT %s{self._db.skip_locked}) RETURNING id",
                (owner, now + ttl, now, *types, limit),
            )
        return [str(r[0]) for r in rows]

    async def save_task_results(self, records: Sequence[TaskRecord], owner: str) -> str:
        """See :meth:`LeaseStore.save_task_results`."""
        if not records:
            return SAVED
        workflow_id = records[0].workflow_id
        async with self._db.transaction(f"save task results of workflow '{workflow_id}'") as tx:
            rows = await tx.rows(
                "SELECT owner, status FROM workflows WHERE id = %s" + self._db.share_lock,
                (workflow_id,),
            )
            verdict = fence_verdict(rows[0] if rows else None, owner)
            if verdict == SAVED:
                await tx.many(_UPSERT_TASK, [self._task_row(record) for record in records])
        return verdict

    def _task_row(self, record: TaskRecord) -> tuple[Any, ...]:
        result = None if record.result is None else self._db.to_json(record.result)
        return (
            record.workflow_id,
            record.step_name,
            record.task_name,
            record.status,
            result,
            record.error,
            record.started_at,
            record.ended_at,
        )

    async def cancel(self, workflow_id: str, note: str) -> tuple[str, str | None]:
        """See :meth:`LeaseStore.cancel`."""
        now = time.time()
        async with self._db.transaction(f"cancel workflow '{workflow_id}'") as tx:
            rows = await tx.rows(
                "SELECT status, owner FROM workflows WHERE id = %s" + self._db.row_lock,
                (workflow_id,),
            )
            if not rows:
                raise WorkflowNotFound(not_found_message(workflow_id, self._db.label()))
            status, owner = str(rows[0][0]), rows[0][1]
            if status in TERMINAL_STATUSES:
                raise WorkflowStateError(
                    f"Workflow {workflow_id} is already {status}; only a running workflow can be "
                    f"cancelled."
                )
            await tx.count(
                "UPDATE workflows SET status = 'CANCELLED', version = version + 1, "
                "updated_at = %s, ended_at = %s WHERE id = %s",
                (now, now, workflow_id),
            )
            await tx.count(_INSERT_LOG, (workflow_id, now, f"{status} -> CANCELLED ({note})"))
        return status, None if owner is None else str(owner)

    async def queue(self, workflow_id: str) -> None:
        """See :meth:`LeaseStore.queue`."""
        async with self._db.statement(f"hand workflow '{workflow_id}' to workers") as tx:
            await tx.count(
                "UPDATE workflows SET queued_at = %s WHERE id = %s", (time.time(), workflow_id)
            )
            await self._notify(tx)

    async def _notify(self, tx: Tx) -> None:
        if self._db.notify:  # delivered when the transaction commits
            await tx.rows(NOTIFY_SQL, (CHANNEL,))

    async def deliver_input(self, workflow_id: str, data: dict[str, Any]) -> None:
        """See :meth:`LeaseStore.deliver_input`."""
        async with self._db.transaction(f"deliver input to workflow '{workflow_id}'") as tx:
            rows = await tx.rows(
                "SELECT status, current_step FROM workflows WHERE id = %s", (workflow_id,)
            )
            if not rows:
                raise WorkflowNotFound(not_found_message(workflow_id, self._db.label()))
            if rows[0][0] != "WAITING_HUMAN":
                raise WorkflowStateError(
                    f"Workflow {workflow_id} is {rows[0][0]}, not WAITING_HUMAN; input can only be "
                    f"delivered to a workflow that waits for it ('ruvon show {workflow_id}')."
                )
            given = self._db.to_json({"step": rows[0][1], "data": data})
            await tx.count(
                "UPDATE workflows SET pending_input = %s, queued_at = %s WHERE id = %s",
                (given, time.time(), workflow_id),
            )
            await self._notify(tx)

    async def wake(self, workflow_id: str) -> None:
        """See :meth:`LeaseStore.wake`."""
        async with self._db.statement(f"wake workflow '{workflow_id}'") as tx:
            await tx.count(
                "UPDATE workflows SET pending_input = %s WHERE id = %s AND pending_input IS NULL "
                f"AND status NOT IN ({_ENDED})",
                (self._db.to_json(WAKE), workflow_id),
            )
            await self._notify(tx)

    async def take_input(self, workflow_id: str, owner: str) -> dict[str, Any] | None:
        """Remove and return the input delivered for the workflow's current step (if any)."""
        async with self._db.transaction(f"take the input of workflow '{workflow_id}'") as tx:
            rows = await tx.rows(
                "SELECT pending_input, current_step FROM workflows WHERE id = %s AND owner = %s",
                (workflow_id, owner),
            )
            if not rows or rows[0][0] is None:
                return None
            await tx.count(
                "UPDATE workflows SET pending_input = NULL WHERE id = %s", (workflow_id,)
            )
        given = self._db.from_json(rows[0][0])
        if not isinstance(given, dict) or given.get("step") != rows[0][1]:
            return None  # delivered for a step the workflow has left
        data = given.get("data")
        return data if isinstance(data, dict) else None

    async def register_key(self, key: str, workflow_id: str, data_hash: str) -> KeyEntry:
        """See :meth:`LeaseStore.register_key`."""
        async with self._db.transaction(f"register idempotency key '{key}'") as tx:
            await tx.count(
                "INSERT INTO ruvon_idempotency (key, workflow_id, data_hash, created_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (key, workflow_id, data_hash, time.time()),
            )
            rows = await tx.rows(
                "SELECT workflow_id, data_hash FROM ruvon_idempotency WHERE key = %s", (key,)
            )
        first = str(rows[0][0])
        return KeyEntry(first, str(rows[0][1]), created=first == workflow_id)

    async def zombies(self, now: float) -> list[Zombie]:
        """See :meth:`LeaseStore.zombies`."""
        async with self._db.statement("list zombie workflows") as tx:
            rows = await tx.rows(
                "SELECT id, workflow_type, status, owner, lease_expires_at FROM workflows "
                f"WHERE owner IS NOT NULL AND lease_expires_at < %s AND status NOT IN ({_ENDED}) "
                "ORDER BY lease_expires_at",
                (now,),
            )
        return [Zombie(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows]

    async def fail_zombies(self, workflow_ids: Sequence[str], now: float) -> list[str]:
        """See :meth:`LeaseStore.fail_zombies`."""
        if not workflow_ids:
            return []
        async with self._db.transaction("mark zombie workflows FAILED_WORKER_CRASH") as tx:
            rows = await tx.rows(
                "UPDATE workflows SET status = 'FAILED_WORKER_CRASH', version = version + 1, "
                "updated_at = %s, ended_at = %s, owner = NULL, lease_expires_at = NULL "
                f"WHERE id IN ({_marks(len(workflow_ids))}) AND owner IS NOT NULL "
                f"AND lease_expires_at < %s AND status NOT IN ({_ENDED}) RETURNING id, status",
                (now, now, *workflow_ids, now),
            )
            failed = [str(r[0]) for r in rows]
            note = "-> FAILED_WORKER_CRASH (ruvon scan-zombies --fix: the owner's lease expired)"
            await tx.many(_INSERT_LOG, [(wid, now, note) for wid in failed])
        return failed

    async def beat_worker(self, info: WorkerInfo) -> None:
        """See :meth:`LeaseStore.beat_worker`."""
        async with self._db.statement("record the worker's heartbeat") as tx:
            await tx.count(
                "INSERT INTO ruvon_workers (id, host, pid, concurrency, types, started_at, "
                "heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (
                    info.id,
                    info.host,
                    info.pid,
                    info.concurrency,
                    json.dumps(info.types),
                    info.started_at,
                    info.heartbeat_at,
                ),
            )

    async def remove_worker(self, worker_id: str) -> None:
        """See :meth:`LeaseStore.remove_worker`."""
        async with self._db.statement("remove the worker's row") as tx:
            await tx.count("DELETE FROM ruvon_workers WHERE id = %s", (worker_id,))

    async def workers(self, alive_after: float) -> list[WorkerInfo]:
        """See :meth:`LeaseStore.workers`."""
        async with self._db.transaction("list workers") as tx:
            rows = await tx.rows(
                "SELECT id, host, pid, concurrency, types, started_at, heartbeat_at "
                "FROM ruvon_workers WHERE heartbeat_at > %s ORDER BY started_at",
                (alive_after,),
            )
            found = [
                WorkerInfo(str(r[0]), str(r[1]), int(r[2]), int(r[3]), json.loads(r[4]), r[5], r[6])
                for r in rows
            ]
            by_id = {worker.id: worker for worker in found}
            if by_id:
                held = await tx.rows(
                    "SELECT owner, id, workflow_type, lease_expires_at FROM workflows "
                    f"WHERE owner IN ({_marks(len(by_id))}) ORDER BY id",
                    tuple(by_id),
                )
                for owner, wid, wtype, expires in held:
                    by_id[str(owner)].holds.append((str(wid), str(wtype), float(expires)))
        return found


# -- SQLite ----------------------------------------------------------------------------------------
_QMARKS: dict[str, str] = {}


def _qmarks(sql: str) -> str:
    """``sql`` with SQLite's placeholders (translated once per statement text)."""
    found = _QMARKS.get(sql)
    if found is None:
        if len(_QMARKS) >= 512:  # statements with IN lists vary in length
            _QMARKS.clear()
        found = _QMARKS[sql] = sql.replace("%s", "?")
    return found


class _SqliteTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(_qmarks(sql), tuple(params)).fetchall())

    async def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(_qmarks(sql), tuple(params)).rowcount)

    async def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(_qmarks(sql), [tuple(p) for p in params])


def sqlite_lease_store(provider: PersistenceProvider) -> SqlLeaseStore:
    """The lease store of a SQLitePersistenceProvider (its connection, lock and transactions).

    The calls are synchronous and take microseconds, as the provider's own; no other coroutine
    runs while the provider's lock is held, because nothing inside awaits a real suspension.
    """
    from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

    assert isinstance(provider, SQLitePersistenceProvider)

    def failed(what: str, exc: sqlite3.Error) -> PersistenceError:
        return PersistenceError(
            f"{provider._label}: could not {what} ({exc}). If the database is locked, "
            f"another process holds it longer than timeout={provider.timeout}s."
        )

    @asynccontextmanager
    async def transaction(what: str) -> AsyncIterator[Tx]:
        # The provider's connection and lock: its own writes (and group commits) wait for ours.
        conn = provider._connection()
        with provider._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteTx(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise failed(what, exc) from exc

    @asynccontextmanager
    async def statement(what: str) -> AsyncIterator[Tx]:
        # One statement is a transaction of its own in SQLite (autocommit): no BEGIN and COMMIT.
        conn = provider._connection()
        with provider._lock:
            try:
                yield _SqliteTx(conn)
            except sqlite3.Error as exc:
                raise failed(what, exc) from exc

    async def one(what: str, arg: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = provider._connection()
        with provider._lock:
            try:
                return conn.execute(_qmarks(sql), params).fetchall()
            except sqlite3.Error as exc:
                raise failed(what.format(arg), exc) from exc

    return SqlLeaseStore(
        Dialect(
            transaction=transaction,
            statement=statement,
            one=one,
            label=lambda: provider._label,
            to_json=dump_json,
            from_json=json.loads,
        )
    )


# -- PostgreSQL ------------------------------------------------------------------------------------
class _PostgresTx:
    def __init__(self, conn: Any, cursor: Any) -> None:
        self._conn = conn
        self._cursor = cursor  # one statement at a time, its results read before the next

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = await self._cursor.execute(sql, tuple(params))
        return list(await cursor.fetchall()) if cursor.description else []

    async def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self._cursor.execute(sql, tuple(params))
        return int(cursor.rowcount)

    async def many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(sql, [tuple(p) for p in params])


class PostgresLeaseStore(SqlLeaseStore):
    """The SQL lease store plus ``LISTEN``: idle workers wake the moment work is queued."""

    def __init__(self, dialect: Dialect, dsn: str) -> None:
        super().__init__(dialect)
        self._dsn = dsn
        self._listener: Any = None
        self._schema = ""

    async def wait_for_work(self, timeout: float) -> bool:
        """Wait for a ``NOTIFY ruvon_work`` (sent when work is queued), at most ``timeout`` s."""
        import psycopg

        told = False
        deadline = time.monotonic() + timeout
        try:
            if self._listener is None:
                self._listener = await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, connect_timeout=5
                )
                cursor = await self._listener.execute("SELECT current_schema()")
                self._schema = str((await cursor.fetchone())[0])
                await self._listener.execute(f"LISTEN {CHANNEL}")
            while not told and (left := deadline - time.monotonic()) > 0:
                async for note in self._listener.notifies(timeout=left, stop_after=1):
                    told = note.payload == self._schema  # not another schema's
        except psycopg.Error as exc:  # fall back to polling; reconnect next time
            _log.warning("listening for new work failed, polling instead: %s", exc)
            await self.close()
            return await super().wait_for_work(timeout)
        return told

    async def close(self) -> None:
        """Close the listening connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()


def postgres_lease_store(provider: PersistenceProvider) -> SqlLeaseStore:
    """The lease store of a PostgresPersistenceProvider (its pool and transactions)."""
    from psycopg.types.json import Jsonb

    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    assert isinstance(provider, PostgresPersistenceProvider)

    @asynccontextmanager
    async def transaction(what: str) -> AsyncIterator[Tx]:
        async with provider._connection(what) as conn, conn.transaction():
            yield _PostgresTx(conn, provider.cursor(conn))

    @asynccontextmanager
    async def statement(what: str) -> AsyncIterator[Tx]:
        async with provider._connection(what) as conn:  # autocommit: one round trip
            yield _PostgresTx(conn, provider.cursor(conn))

    async def one(what: str, arg: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with provider._connection(what.format(arg)) as conn:
            cursor = await provider.cursor(conn).execute(sql, params)
            return list(await cursor.fetchall()) if cursor.description else []

    dialect = Dialect(
        transaction=transaction,
        statement=statement,
        one=one,
        label=lambda: provider._label,
        to_json=Jsonb,
        from_json=lambda value: value,
        skip_locked=" FOR UPDATE SKIP LOCKED",
        share_lock=" FOR SHARE",
        row_lock=" FOR UPDATE",
        notify=True,
    )
    return PostgresLeaseStore(dialect, provider.dsn)
