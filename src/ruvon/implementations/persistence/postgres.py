"""PostgresPersistenceProvider: workflows in PostgreSQL, for several processes and machines."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ruvon.errors import ConfigurationError, PersistenceError, VersionConflict, WorkflowNotFound
from ruvon.implementations.persistence.schema import (
    LOG_COLUMNS,
    MIGRATIONS_TABLE,
    TASK_COLUMNS,
    WORKFLOW_COLUMNS,
    JsonCache,
    insert_row,
    log_from_row,
    log_row,
    not_found_message,
    pending_migrations,
    task_from_row,
    update_row,
    version_conflict_message,
    workflow_from_row,
)
from ruvon.providers.persistence import LogEntry, PersistenceProvider, TaskRecord, WorkflowRecord

try:
    import psycopg
    from psycopg.types.json import Jsonb
    from psycopg_pool import AsyncConnectionPool
except ImportError as _missing:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        f"PostgresPersistenceProvider needs psycopg 3 and psycopg_pool ({_missing}). Install them "
        f"with: pip install 'ruvon[postgres]'"
    ) from _missing

_log = logging.getLogger("ruvon.persistence.postgres")

# Serializes schema migrations of concurrent initializers (any 64-bit constant would do).
_MIGRATION_LOCK_KEY = 0x52_55_56_4F_4E
_COLS = ", ".join(WORKFLOW_COLUMNS)
_INSERT_WORKFLOW = (
    f"INSERT INTO workflows ({_COLS}) VALUES ({', '.join(['%s'] * len(WORKFLOW_COLUMNS))}) "
    f"ON CONFLICT (id) DO NOTHING"
)
# See schema.update_row: an update writes only what a step changes.
_UPDATE_WORKFLOW = (
    "UPDATE workflows SET state = %s, status = %s, current_step = %s, metadata = %s, "
    "version = %s, updated_at = %s, parent_id = %s, engine = %s WHERE id = %s AND version = %s"
)
_UPSERT_TASK = (
    f"INSERT INTO task_results ({', '.join(TASK_COLUMNS)}) "
    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    f"ON CONFLICT (workflow_id, step_name, task_name) DO UPDATE SET status = EXCLUDED.status, "
    f"result = EXCLUDED.result, error = EXCLUDED.error, started_at = EXCLUDED.started_at, "
    f"ended_at = EXCLUDED.ended_at"
)
_INSERT_LOG = (
    f"INSERT INTO execution_log ({', '.join(LOG_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


def _same(value: Any) -> Any:
    """psycopg already decodes JSONB columns."""
    return value


class PostgresPersistenceProvider(PersistenceProvider):
    """Stores workflows in PostgreSQL through an async psycopg 3 connection pool.

    JSON columns are JSONB, timestamps are epoch seconds (DOUBLE PRECISION, so they round-trip
    exactly). Each save is one transaction; a committed save survives a crash of the database
    server (PostgreSQL fsyncs its WAL at commit unless ``synchronous_commit`` is off).

    The pool belongs to the event loop that ran ``initialize()``; use one provider per event loop
    (for instance one per worker thread). Choose the schema with the DSN, e.g.
    ``"dbname=app options=-csearch_path=ruvon"``.

    JSONB normalizes what it stores: object keys come back in PostgreSQL's order, a float without
    a fractional part written with an exponent (``1e20``) comes back as an ``int`` of the same
    value (pydantic fields typed ``float`` convert it back), ``-0.0`` comes back as ``0.0``, and
    strings cannot hold ``\\u0000``.

    Args:
        dsn: A libpq connection string or URI.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        db_url, pool_min_size, pool_max_size: The published SDK's names of ``dsn``, ``min_size``
            and ``max_size`` (keyword only; give each setting once).
    """

    def __init__(
        self,
        dsn: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        *,
        db_url: str | None = None,
        pool_min_size: int | None = None,
        pool_max_size: int | None = None,
    ) -> None:
        dsn, min_size, max_size = sdk_pool_arguments(
            dsn, min_size, max_size, db_url, pool_min_size, pool_max_size
        )
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigurationError(
                f"PostgresPersistenceProvider(min_size={min_size}, max_size={max_size}) needs "
                f"0 <= min_size <= max_size and max_size >= 1."
            )
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self._pool: AsyncConnectionPool[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._init_lock: asyncio.Lock | None = None
        self._label = "The PostgreSQL database"
        self._definitions = JsonCache()

    # -- lifecycle -------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the pool and create or migrate the schema (idempotent).

        Raises:
            SchemaVersionError: The database was written by a newer ruvon; it is left untouched.
            PersistenceError: The server cannot be reached or the schema cannot be created.
        """
        if self._pool is not None:
            self._check_loop()
            return
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if self._pool is not None:
                return
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self.dsn,
                min_size=self.min_size,
                max_size=self.max_size,
                kwargs={"autocommit": True, "connect_timeout": 5},
                open=False,
                name="ruvon",
            )
            try:
                await pool.open(wait=True, timeout=10.0)
                async with pool.connection() as conn:
                    await self._migrate(conn)
            except BaseException as exc:
                await pool.close()
                if isinstance(exc, psycopg.Error | TimeoutError):
                    raise PersistenceError(
                        f"{self._label} cannot be initialized ({type(exc).__name__}: {exc}). Check "
                        f"that the server is running, the DSN's host, port, user and dbname, and "
                        f"that the search_path schema exists."
                    ) from exc
                raise
            self._loop = asyncio.get_running_loop()
            self._pool = pool

    async def close(self) -> None:
        """Close the pool; a later ``initialize()`` opens a new one."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        schema = await (await conn.execute("SELECT current_schema()")).fetchone()
        info = conn.info
        self._label = (
            f"The PostgreSQL database '{info.dbname}' on {info.host}:{info.port} "
            f"(schema {schema[0] if schema else None})"
        )
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                f"(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            row = await (
                await conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}")
            ).fetchone()
            for migration in pending_migrations(int(row[0]) if row else 0, self._label):
                _log.info(
                    "%s: applying schema migration %d (%s)",
                    self._label,
                    migration.version,
                    migration.description,
                )
                for statement in migration.postgres:
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, applied_at) VALUES (%s, %s)",
                    (migration.version, time.time()),
                )

    def _check_loop(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            raise PersistenceError(
                f"This PostgresPersistenceProvider ({self._label}) was initialized on another "
                f"event loop, and its connection pool only works there. Create one provider per "
                f"event loop (for instance one per thread)."
            )

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; psycopg errors become PersistenceError naming ``what``."""
        if self._pool is None:
            await self.initialize()
        self._check_loop()
        assert self._pool is not None
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise PersistenceError(
                f"{self._label}: could not {what} ({type(exc).__name__}: {exc})."
            ) from exc

    # -- workflows -------------------------------------------------------------------------------
    async def save_workflow(
        self,
        record: WorkflowRecord,
        *,
        finished_step: str | None = None,
        log: Sequence[LogEntry] = (),
    ) -> int:
        """Insert (version 0) or update ``record`` if the stored version matches, in one transaction.

        Raises:
            VersionConflict: Another writer saved the workflow first, or a new workflow's id exists.
            PersistenceError: PostgreSQL failed (the message says why).
        """
        new_version = record.version + 1
        now = time.time()
        # On a version conflict the deletion and the log rows are rolled back with the transaction.
        # (Pipeline mode was measured slower here: its Python overhead beats the saved round trips.)
        async with (
            self._connection(f"save workflow '{record.id}'") as conn,
            conn.transaction(),
        ):
            if record.version == 0:
                definition = functools.partial(Jsonb, dumps=self._definitions.dumps)
                row = insert_row(record, new_version, now, Jsonb, definition)
                cursor = await conn.execute(_INSERT_WORKFLOW, row)
            else:
                row = update_row(record, new_version, now, Jsonb)
                cursor = await conn.execute(_UPDATE_WORKFLOW, row)
            if finished_step is not None:
                await conn.execute(
                    "DELETE FROM task_results WHERE workflow_id = %s AND step_name = %s",
                    (record.id, finished_step),
                )
            if log:
                async with conn.cursor() as cur:
                    await cur.executemany(_INSERT_LOG, [log_row(entry) for entry in log])
            if cursor.rowcount != 1:
                found = await (
                    await conn.execute("SELECT version FROM workflows WHERE id = %s", (record.id,))
                ).fetchone()
                stored = None if found is None else int(found[0])
                raise VersionConflict(
                    version_conflict_message(record.id, stored, record.version, self._label)
                )
        return new_version

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """Load one workflow.

        Raises:
            WorkflowNotFound: No workflow with that id is stored (the message names the id).
        """
        async with self._connection(f"load workflow '{workflow_id}'") as conn:
            cursor = await conn.execute(
                f"SELECT {_COLS} FROM workflows WHERE id = %s", (workflow_id,)
            )
            row = await cursor.fetchone()
        if row is None:
            raise WorkflowNotFound(not_found_message(workflow_id, self._label))
        return workflow_from_row(row, _same)

    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Workflows, newest first (by ``created_at``), optionally filtered by status and type."""
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = %s")
            params.append(status)
        if workflow_type is not None:
            where.append("workflow_type = %s")
            params.append(workflow_type)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        sql = f"SELECT {_COLS} FROM workflows {clause}ORDER BY created_at DESC, id DESC LIMIT %s"
        async with self._connection("list workflows") as conn:
            rows = await (await conn.execute(sql, (*params, limit))).fetchall()
        return [workflow_from_row(row, _same) for row in rows]

    # -- task results ----------------------------------------------------------------------------
    async def save_task_result(self, record: TaskRecord) -> None:
        """Save or replace the outcome of one PARALLEL task."""
        what = f"save task '{record.task_name}' of workflow '{record.workflow_id}'"
        async with self._connection(what) as conn:
            await conn.execute(_UPSERT_TASK, _task_values(record))

    async def save_task_results(self, records: Sequence[TaskRecord]) -> None:
        """Save or replace several task outcomes in one transaction."""
        if len(records) <= 1:
            for record in records:
                await self.save_task_result(record)
            return
        what = f"save {len(records)} task results of workflow '{records[0].workflow_id}'"
        async with self._connection(what) as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(_UPSERT_TASK, [_task_values(record) for record in records])

    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Saved outcomes of the step's current run, by task name."""
        async with self._connection(f"load task results of workflow '{workflow_id}'") as conn:
            cursor = await conn.execute(
                f"SELECT {', '.join(TASK_COLUMNS)} FROM task_results "
                f"WHERE workflow_id = %s AND step_name = %s",
                (workflow_id, step_name),
            )
            rows = await cursor.fetchall()
        return {row[2]: task_from_row(row, _same) for row in rows}

    # -- execution log ---------------------------------------------------------------------------
    async def append_log(self, entry: LogEntry) -> None:
        """Append one entry to the workflow's execution log."""
        async with self._connection(f"append to the log of workflow '{entry.workflow_id}'") as conn:
            await conn.execute(_INSERT_LOG, log_row(entry))

    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """The workflow's execution log, oldest first."""
        async with self._connection(f"load the log of workflow '{workflow_id}'") as conn:
            cursor = await conn.execute(
                f"SELECT {', '.join(LOG_COLUMNS)} FROM execution_log WHERE workflow_id = %s "
                f"ORDER BY id",
                (workflow_id,),
            )
            rows = await cursor.fetchall()
        return [log_from_row(row) for row in rows]


def _task_values(record: TaskRecord) -> tuple[Any, ...]:
    return (
        record.workflow_id,
        record.step_name,
        record.task_name,
        record.status,
        None if record.result is None else Jsonb(record.result),
        record.error,
        record.started_at,
        record.ended_at,
    )


def sdk_pool_arguments(
    dsn: str | None,
    min_size: int,
    max_size: int,
    db_url: str | None,
    pool_min_size: int | None,
    pool_max_size: int | None,
) -> tuple[str, int, int]:
    """``(dsn, min_size, max_size)`` from ours or the SDK's argument names.

    Raises:
        ConfigurationError: No connection string, or one setting given under both names.
    """
    if dsn is not None and db_url is not None:
        raise ConfigurationError(
            "PostgresPersistenceProvider got both dsn and db_url (two names of the connection "
            "string); pass one."
        )
    url = dsn if dsn is not None else db_url
    if url is None:
        raise ConfigurationError(
            "PostgresPersistenceProvider needs a connection string: "
            "PostgresPersistenceProvider('postgresql://user:pw@host/db') (or db_url=...)."
        )
    return (
        url,
        min_size if pool_min_size is None else pool_min_size,
        max_size if pool_max_size is None else pool_max_size,
    )
