"""PostgresPersistenceProvider: workflows in PostgreSQL, for several processes and machines."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ruvon.errors import ConfigurationError, DatabaseNotFound, PersistenceError
from ruvon.implementations.persistence.schema import (
    LOG_COLUMNS,
    MIGRATIONS_TABLE,
    TASK_COLUMNS,
    pending_migrations,
)
from ruvon.implementations.persistence.sql import (
    Dialect,
    Row,
    SaveArgs,
    SQLPersistenceProvider,
    saving,
)

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.pq import TransactionStatus
    from psycopg_pool import AsyncConnectionPool
except ImportError as _missing:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        f"PostgresPersistenceProvider needs psycopg 3 and psycopg_pool ({_missing}). Install them "
        f"with: pip install 'ruvon[postgres]'"
    ) from _missing

_log = logging.getLogger("ruvon.persistence.postgres")

# Serializes schema migrations of concurrent initializers (any 64-bit constant would do).
_MIGRATION_LOCK_KEY = 0x52_55_56_4F_4E
_LOG_TYPES = ("text", "text", "text", "text", "float8", "float8", "text")
_VALUES_ROWS = 8  # log rows sent as plain parameters; more go as arrays
_TASK_TYPES = ("text", "text", "text", "text", "jsonb", "text", "float8", "float8")


def _unnest(columns: Sequence[str], types: Sequence[str]) -> str:
    """``SELECT`` of rows passed as one array parameter per column (one statement, any count)."""
    arrays = ", ".join(f"%s::{'text' if t == 'jsonb' else t}[]" for t in types)
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    picks = ", ".join(f"c{i}::jsonb" if t == "jsonb" else f"c{i}" for i, t in enumerate(types))
    return f"SELECT {picks} FROM unnest({arrays}) AS t({names})"


def _values(rows: int) -> str:
    """``SELECT`` of ``rows`` log rows passed as typed parameters."""
    row = "(" + ", ".join(f"%s::{t}" for t in _LOG_TYPES) + ")"
    names = ", ".join(f"c{i}" for i in range(len(LOG_COLUMNS)))
    return f"SELECT * FROM (VALUES {', '.join([row] * rows)}) AS v({names})"


def _columns(rows: Sequence[Row], types: Sequence[str]) -> list[list[Any]]:
    """Rows transposed to one list per column (floats made floats, so each array has one type)."""
    columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
    for index, kind in enumerate(types):
        if kind == "float8":
            columns[index] = [None if v is None else float(v) for v in columns[index]]
    return columns


class PostgresPersistenceProvider(SQLPersistenceProvider):
    """Stores workflows in PostgreSQL through an async psycopg 3 connection pool.

    JSON columns are JSONB, timestamps are epoch seconds (DOUBLE PRECISION, so they round-trip
    exactly). Each save is one statement, so one round trip and one transaction: the workflow row
    (version-checked), the deletion of a finished step's task records and the log rows. A
    committed save survives a crash of the database server (PostgreSQL fsyncs its WAL at commit
    unless ``synchronous_commit`` is off).

    The pool belongs to the event loop that ran ``initialize()``; use one provider per event loop
    (for instance one per worker thread). Choose the schema with the DSN, e.g.
    ``"dbname=app options=-csearch_path=ruvon"``.

    JSONB normalizes what it stores: object keys come back in PostgreSQL's order, a float without
    a fractional part written with an exponent (``1e20``) comes back as an ``int`` of the same
    value (pydantic fields typed ``float`` convert it back), ``-0.0`` comes back as ``0.0``. It
    cannot hold ``\\u0000`` in strings, NaN or infinity: a save holding one is refused with a
    PersistenceError naming the field before anything is written.

    Args:
        dsn: A libpq connection string or URI.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        create: Create ruvon's tables if missing (the default). With ``False`` a database without
            them is refused with PersistenceError and nothing is created (read-only tools).
        connect_timeout: Seconds to wait for the server before failing (whole seconds, >= 2).
        db_url, pool_min_size, pool_max_size: The published SDK's names of ``dsn``, ``min_size``
            and ``max_size`` (keyword only; give each setting once).
    """

    dialect = Dialect(param="%s", json_param="%s::jsonb", load_json=lambda v: v, postgres=True)

    def __init__(
        self,
        dsn: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        *,
        create: bool = True,
        connect_timeout: int = 2,
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
        super().__init__()
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.create = create
        self.connect_timeout = max(2, int(connect_timeout))
        self._pool: AsyncConnectionPool[Any] | None = None
        # One of the pool's connections, kept out of it for the calls made one at a time (a
        # driver's saves and lease statements): taking a connection from the pool and giving it
        # back costs more Python than a save's statement. Concurrent calls use the pool.
        self._kept: psycopg.AsyncConnection[Any] | None = None
        # Its one cursor, reused by every statement on it: conn.execute() makes a cursor per
        # statement, and that costs about as much client CPU as the rest of a save's execute.
        self._kept_cursor: psycopg.AsyncCursor[Any] | None = None
        self._kept_busy = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._init_lock: asyncio.Lock | None = None
        self._label = "The PostgreSQL database"
        self._saves: dict[tuple[str, bool, int], str] = {}
        self._upsert_tasks = (
            f"INSERT INTO task_results ({', '.join(TASK_COLUMNS)}) "
            f"{_unnest(TASK_COLUMNS, _TASK_TYPES)} {self._sql.task_conflict}"
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Check the server, create or migrate the schema (idempotent) and open the pool.

        Raises:
            SchemaVersionError: The database was written by a newer ruvon; it is left untouched.
            PersistenceError: The server cannot be reached within ``connect_timeout`` (the message
                names host and port), refuses the login, or (``create=False``) holds no ruvon
                tables, or the schema cannot be created.
        """
        if self._pool is not None:
            self._check_loop()
            return
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if self._pool is None:
                await self._open()

    async def _open(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout
            )
        except psycopg.Error as exc:
            raise PersistenceError(self._unreachable(exc)) from exc
        try:
            await self._migrate(conn)
        except psycopg.Error as exc:
            raise PersistenceError(
                f"{self._label} cannot be initialized ({type(exc).__name__}: {exc}). Check the "
                f"user's rights and that the search_path schema exists."
            ) from exc
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.dsn,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True, "connect_timeout": self.connect_timeout},
            open=False,
            name="ruvon",
        )
        try:
            await pool.open(wait=True, timeout=float(self.connect_timeout + 2))
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg.Error | TimeoutError):
                raise PersistenceError(self._unreachable(exc)) from exc
            raise
        self._loop = asyncio.get_running_loop()
        self._pool = pool

    def _unreachable(self, exc: BaseException) -> str:
        try:
            params = conninfo_to_dict(self.dsn)
        except psycopg.Error:
            params = {}
        host = params.get("host") or "localhost (Unix socket)"
        port = params.get("port") or 5432
        return (
            f"The PostgreSQL server at {host}:{port} (database '{params.get('dbname', '')}') "
            f"cannot be used ({type(exc).__name__}: {' '.join(str(exc).split())}). Check that "
            f"the server is running and reachable there (pg_isready -h {host} -p {port}) and the DSN's "
            f"host, port, user, password and dbname."
        )

    async def close(self) -> None:
        """Close the pool; a later ``initialize()`` opens a new one."""
        await self._give_back()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _give_back(self) -> None:
        """Return the kept connection to the pool (which replaces it if it is broken)."""
        kept, self._kept = self._kept, None
        self._kept_cursor = None
        if kept is not None and self._pool is not None:
            await self._pool.putconn(kept)

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        row = await (
            await conn.execute(f"SELECT current_schema(), to_regclass('{MIGRATIONS_TABLE}')")
        ).fetchone()
        schema, exists = row if row else (None, None)
        info = conn.info
        self._label = (
            f"The PostgreSQL database '{info.dbname}' on {info.host}:{info.port} (schema {schema})"
        )
        if exists is None and not self.create:
            raise DatabaseNotFound(
                f"There is no ruvon database in {self._label[4:]}: it has no {MIGRATIONS_TABLE} "
                f"table; nothing was created. Check the URL (--db) and the search_path schema."
            )
        if exists is not None and not await self._pending(conn):
            return  # current: no lock and no write
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                f"(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            for migration in await self._pending(conn):
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

    async def _pending(self, conn: psycopg.AsyncConnection[Any]) -> list[Any]:
        cursor = await conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}")
        row = await cursor.fetchone()
        return pending_migrations(int(row[0]) if row else 0, self._label)

    def _check_loop(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            raise PersistenceError(
                f"This PostgresPersistenceProvider ({self._label}) was initialized on another "
                f"event loop, and its connection pool only works there. Create one provider per "
                f"event loop (for instance one per thread)."
            )

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection (the kept one when free, else a pooled one); psycopg errors become
        PersistenceError naming ``what``."""
        conn = await self._take()
        if conn is not None:
            try:
                yield conn
            except BaseException as exc:
                await self._check_kept(conn)
                if isinstance(exc, psycopg.Error):
                    raise self._failed(what, exc) from exc
                raise
            finally:
                self._kept_busy = False
            return
        assert self._pool is not None
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise self._failed(what, exc) from exc

    async def _take(self) -> psycopg.AsyncConnection[Any] | None:
        """The kept connection, marked busy, or None when it is in use (then use the pool)."""
        if self._pool is None:
            await self.initialize()
        self._check_loop()
        if self._kept_busy or self.max_size < 2:  # with one connection, callers queue for it
            return None
        self._kept_busy = True
        if self._kept is None:
            assert self._pool is not None
            try:
                self._kept = await self._pool.getconn()
            except BaseException:
                self._kept_busy = False
                raise
            self._kept_cursor = self._kept.cursor()
        return self._kept

    def cursor(self, conn: psycopg.AsyncConnection[Any]) -> psycopg.AsyncCursor[Any]:
        """A cursor on ``conn`` for one statement at a time: the kept connection's own reused
        cursor, else a new one. Read its results before the next statement on ``conn``."""
        if conn is self._kept and self._kept_cursor is not None:
            return self._kept_cursor
        return conn.cursor()

    async def _check_kept(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """After a failure on the kept connection: stop keeping it unless it is idle and usable
        (a broken or interrupted one goes back to the pool, which resets or replaces it)."""
        usable = not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE
        if not usable and self._kept is conn:
            await self._give_back()

    def _failed(self, what: str, exc: psycopg.Error) -> PersistenceError:
        return PersistenceError(f"{self._label}: could not {what} ({type(exc).__name__}: {exc}).")

    # -- the primitives ----------------------------------------------------------------------------
    async def _fetch(self, what: str, sql: str, params: Sequence[Any]) -> list[Row]:
        async with self._connection(what) as conn:
            return await (await self.cursor(conn).execute(sql, params)).fetchall()

    async def _save(self, save: SaveArgs) -> bool:
        sql, params, finished_step, workflow_id, log_rows = save
        rows = len(log_rows)
        statement = self._save_statement(sql, finished_step is not None, rows)
        args: list[Any] = list(params)
        if finished_step is not None:
            args += (workflow_id, finished_step)
        if rows > _VALUES_ROWS:
            args += _columns(log_rows, _LOG_TYPES)
        else:
            for row in log_rows:
                args += row
        conn = await self._take()
        if conn is None:  # another call of this event loop uses the kept connection
            async with self._connection(saving(workflow_id)) as pooled:
                return await _matched(await pooled.execute(statement, args), rows)
        cursor = self._kept_cursor
        assert cursor is not None
        try:  # the hot path, without a context manager
            return await _matched(await cursor.execute(statement, args), rows)
        except BaseException as exc:
            await self._check_kept(conn)
            if isinstance(exc, psycopg.Error):
                raise self._failed(saving(workflow_id), exc) from exc
            raise
        finally:
            self._kept_busy = False

    def _save_statement(self, sql: str, delete: bool, rows: int) -> str:
        """One statement for a whole save: the row, then (only if it matched) deletion and log.

        Up to _VALUES_ROWS log rows are passed as plain parameters (cheapest to send and plan);
        more as one array per column. With log rows the statement is their INSERT, whose row
        count says whether the workflow row matched (see :func:`_matched`); without, it selects
        the count of matched workflow rows.
        """
        key = (sql, delete, rows if rows <= _VALUES_ROWS else -1)
        statement = self._saves.get(key)
        if statement is None:
            parts = [f"w AS ({sql} RETURNING version)"]
            if delete:
                parts.append(
                    "d AS (DELETE FROM task_results WHERE workflow_id = %s AND step_name = %s "
                    "AND EXISTS (SELECT 1 FROM w))"
                )
            if rows:
                select = _unnest(LOG_COLUMNS, _LOG_TYPES) if rows > _VALUES_ROWS else _values(rows)
                statement = (
                    f"WITH {', '.join(parts)} INSERT INTO execution_log "
                    f"({', '.join(LOG_COLUMNS)}) {select} WHERE EXISTS (SELECT 1 FROM w)"
                )
            else:
                statement = f"WITH {', '.join(parts)} SELECT count(*) FROM w"
            if len(self._saves) >= 256:
                self._saves.clear()
            self._saves[key] = statement
        return statement

    async def _save_tasks(self, what: str, rows: list[Row]) -> None:
        # One INSERT cannot touch a row twice: the last outcome of a task wins, as in SQLite.
        unique = list({row[:3]: row for row in rows}.values())
        async with self._connection(what) as conn:
            await conn.execute(self._upsert_tasks, _columns(unique, _TASK_TYPES))


async def _matched(cursor: psycopg.AsyncCursor[Any], log_rows: int) -> bool:
    """Whether a save's statement (see ``_save_statement``) matched the workflow row: it inserted
    its log rows (a row count, nothing to fetch), or without log rows selected a count of 1."""
    if log_rows:
        return cursor.rowcount > 0
    found = await cursor.fetchone()
    return bool(found and found[0])


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
