"""SQLitePersistenceProvider: the embedded default store, one file, no server."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from ruvon.errors import ConfigurationError, DatabaseNotFound, PersistenceError
from ruvon.implementations.persistence.schema import MIGRATIONS_TABLE, pending_migrations
from ruvon.implementations.persistence.sql import (
    Dialect,
    Row,
    SaveArgs,
    SQLPersistenceProvider,
    saving,
)

_log = logging.getLogger("ruvon.persistence.sqlite")

_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Mismatch(Exception):
    """The workflow row did not match (version conflict): roll back this save only."""


class _Write:
    """One write waiting to be committed, possibly with others (group commit)."""

    __slots__ = ("done", "error", "op", "result")

    def __init__(self, op: Callable[[sqlite3.Connection], Any]) -> None:
        self.op = op
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class SQLitePersistenceProvider(SQLPersistenceProvider):
    """Stores workflows in one SQLite file (standard-library ``sqlite3``, WAL journal).

    Every save is one transaction (workflow row, task-record deletion and log rows together), and
    several processes may share the file: writers queue on SQLite's lock for up to ``timeout``
    seconds. One connection serves all threads and event loops of this process; calls run inline
    because they take microseconds.

    Group commit: when threads of this process save at the same moment, the thread that holds
    the connection commits the saves queued behind it in the same transaction (each in its own
    savepoint, so a version conflict undoes only its own save). With ``synchronous="FULL"`` this
    shares one fsync among them.

    Durability (``synchronous``):
        ``"NORMAL"`` (default): in WAL mode a commit is not fsynced; after a power loss or OS crash
        the last few committed transactions may be missing, but the database is never corrupt. A
        killed process (crash, SIGKILL) loses nothing that was committed.
        ``"FULL"``: every commit is fsynced, so it also survives power loss, at the cost of one
        fsync per commit (typically 0.1-10 ms depending on the disk).
        ``"EXTRA"`` is accepted too (FULL plus a directory fsync).

    Args:
        db_path: The database file. ``":memory:"`` works for one process (no WAL).
        synchronous: ``"NORMAL"`` or ``"FULL"`` (see above).
        timeout: Seconds to wait for another process's lock before failing with "locked".
        create: Create the file and its tables if missing (the default). With ``False`` a missing
            file or one without ruvon's tables is refused with PersistenceError and nothing is
            created (for read-only tools such as ``ruvon list``); an older ruvon schema is still
            upgraded.
        group_commit: Commit the saves of concurrent threads together (see above).

    Raises:
        ConfigurationError: ``synchronous`` is not one of the modes above.
    """

    dialect = Dialect(param="?", json_param="?", load_json=json.loads)

    def __init__(
        self,
        db_path: str | os.PathLike[str] = "ruvon.db",
        synchronous: str = "NORMAL",
        *,
        timeout: float = 30.0,
        create: bool = True,
        group_commit: bool = True,
    ) -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"SQLitePersistenceProvider(synchronous={synchronous!r}) is not supported; use "
                f"'NORMAL' (fast, may lose the last commits on power loss) or 'FULL' (survives "
                f"power loss)."
            )
        super().__init__()
        self.db_path = os.fspath(db_path)
        self.synchronous = mode
        self.timeout = timeout
        self.create = create
        self.group_commit = group_commit
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._queue: deque[_Write] = deque()
        self._label = f"The SQLite database {self.db_path}"

    # -- lifecycle ---------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the database and create or migrate its schema (idempotent).

        Raises:
            SchemaVersionError: The file was written by a newer ruvon; it is left untouched.
            PersistenceError: The file cannot be opened, is locked by another process, is not a
                SQLite database, or (``create=False``) holds no ruvon database.
        """
        self._connection()

    async def close(self) -> None:
        """Close the connection; a later call reopens it."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def _connection(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None:
            return conn
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            return self._conn

    def _open(self) -> sqlite3.Connection:
        memory = self.db_path == ":memory:"
        if not self.create and (memory or not os.path.isfile(self.db_path)):
            raise DatabaseNotFound(self._no_database("the file does not exist"))
        target = self.db_path
        if not self.create:  # mode=rw never creates the file, even if it vanishes meanwhile
            target = f"file:{_uri_path(self.db_path)}?mode=rw"
        try:
            conn = sqlite3.connect(
                target,
                timeout=self.timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=not self.create,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise PersistenceError(
                f"{self._label} cannot be opened ({exc}). Check that the directory exists and is "
                f"writable, or pass another db_path."
            ) from exc
        try:
            if not self.create and not _has_table(conn, MIGRATIONS_TABLE):
                raise DatabaseNotFound(self._no_database("the file holds no ruvon tables"))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            self._migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise self._error("open", exc) from exc
            raise
        return conn

    def _no_database(self, why: str) -> str:
        return (
            f"There is no ruvon database at {self.db_path} ({why}); nothing was created. Check the "
            f"path (--db), or run a workflow first to create it."
        )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if _has_table(conn, MIGRATIONS_TABLE) and not self._pending(conn):
            return  # current: no write lock needed (readers never wait for writers in WAL)
        conn.execute("BEGIN IMMEDIATE")  # one initializer at a time, also across processes
        try:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                f"(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            for migration in self._pending(conn):
                _log.info(
                    "%s: applying schema migration %d (%s)",
                    self.db_path,
                    migration.version,
                    migration.description,
                )
                for statement in migration.sqlite:
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, applied_at) VALUES (?, ?)",
                    (migration.version, time.time()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _pending(self, conn: sqlite3.Connection) -> list[Any]:
        (current,) = conn.execute(
            f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}"
        ).fetchone()
        return pending_migrations(int(current), self._label)

    def _error(self, what: str, exc: sqlite3.Error) -> PersistenceError:
        """The PersistenceError for a failed ``what``; a busy database is said to be locked."""
        if getattr(exc, "sqlite_errorcode", None) in _BUSY_CODES:
            return PersistenceError(
                f"{self._label} is locked by another process: could not {what} within "
                f"timeout={self.timeout}s. Wait for that process to finish (or stop it), or pass "
                f"a longer timeout."
            )
        if what == "open":
            return PersistenceError(
                f"{self._label} cannot be initialized ({exc}). Check that the file is a SQLite "
                f"database written by ruvon, or pass another db_path."
            )
        return PersistenceError(f"{self._label}: could not {what} ({exc}).")

    # -- the primitives ----------------------------------------------------------------------------
    async def _fetch(self, what: str, sql: str, params: Sequence[Any]) -> list[Row]:
        conn = self._connection()
        with self._lock:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(what, exc) from exc

    async def _save(self, save: SaveArgs) -> bool:
        sql, params, finished_step, workflow_id, log_rows = save
        statements = self._sql
        conn = self._conn or self._connection()
        lock = self._lock
        if not self._queue and lock.acquire(blocking=False):
            # Nobody waiting: one transaction of its own, run inline (the common case).
            try:
                execute = conn.execute
                execute("BEGIN IMMEDIATE")
                try:
                    if execute(sql, params).rowcount != 1:
                        execute("ROLLBACK")
                        return False
                    if finished_step is not None:
                        execute(statements.delete_tasks, (workflow_id, finished_step))
                    if len(log_rows) == 1:
                        execute(statements.insert_log, log_rows[0])
                    elif log_rows:
                        conn.executemany(statements.insert_log, log_rows)
                    execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(saving(workflow_id), exc) from exc
            finally:
                lock.release()
            return True

        def op(conn: sqlite3.Connection) -> None:
            if conn.execute(sql, params).rowcount != 1:
                raise _Mismatch
            if finished_step is not None:
                conn.execute(statements.delete_tasks, (workflow_id, finished_step))
            if len(log_rows) == 1:
                conn.execute(statements.insert_log, log_rows[0])
            elif log_rows:
                conn.executemany(statements.insert_log, log_rows)

        try:
            self._write(saving(workflow_id), op)
        except _Mismatch:
            return False
        return True

    async def _save_tasks(self, what: str, rows: list[Row]) -> None:
        upsert = self._sql.upsert_task
        self._write(what, lambda conn: conn.executemany(upsert, rows))

    def _write(self, what: str, op: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``op`` in a write transaction, committed together with concurrent threads' writes.

        The caller queues its write, then takes the connection; whoever holds it commits every
        queued write in one transaction, so a thread that finds its write done just returns.
        """
        conn = self._connection()
        write = _Write(op)
        if not self._queue and self._lock.acquire(blocking=False):
            try:  # nobody waiting: commit alone, without queueing
                self._commit(conn, [write])
            finally:
                self._lock.release()
            return self._outcome(what, write)
        self._queue.append(write)
        with self._lock:
            if not write.done:
                batch = [self._queue.popleft() for _ in range(len(self._queue))]
                if self.group_commit:
                    self._commit(conn, batch)
                else:  # one transaction each, in arrival order
                    for item in batch:
                        self._commit(conn, [item])
        return self._outcome(what, write)

    def _outcome(self, what: str, write: _Write) -> Any:
        """The result of a committed ``write``, or its error (sqlite3's as PersistenceError)."""
        error = write.error
        if isinstance(error, sqlite3.Error):
            raise self._error(what, error) from error
        if error is not None:
            raise error
        return write.result

    def _commit(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        """One transaction for ``batch``; each write's own failure undoes only that write."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            if len(batch) == 1:
                _run(batch[0], conn)
                conn.execute("ROLLBACK" if batch[0].error is not None else "COMMIT")
                return
            for item in batch:
                conn.execute("SAVEPOINT ruvon_write")
                _run(item, conn)
                if item.error is not None:
                    conn.execute("ROLLBACK TO ruvon_write")
                conn.execute("RELEASE ruvon_write")
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for item in batch:  # nothing of the batch was committed
                item.error = item.error or exc
            if not isinstance(exc, sqlite3.Error):
                raise
        finally:
            for item in batch:
                item.done = True


def _run(write: _Write, conn: sqlite3.Connection) -> None:
    """Run one queued write, keeping its result or its error (sqlite3 errors included)."""
    try:
        write.result = write.op(conn)
    except Exception as exc:  # given back to the thread that queued it
        write.error = exc


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return row.fetchone() is not None


def _uri_path(path: str) -> str:
    """``path`` quoted for an SQLite ``file:`` URI."""
    from urllib.parse import quote

    return quote(os.path.abspath(path))
