"""SQLitePersistenceProvider: the embedded default store, one file, no server."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ruvon.errors import (
    ConfigurationError,
    PersistenceError,
    VersionConflict,
    WorkflowNotFound,
)
from ruvon.implementations.persistence.schema import (
    LOG_COLUMNS,
    MIGRATIONS_TABLE,
    TASK_COLUMNS,
    WORKFLOW_COLUMNS,
    JsonCache,
    dump_json,
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

_log = logging.getLogger("ruvon.persistence.sqlite")

_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")
_COLS = ", ".join(WORKFLOW_COLUMNS)
_INSERT_WORKFLOW = (
    f"INSERT INTO workflows ({_COLS}) VALUES ({', '.join('?' * len(WORKFLOW_COLUMNS))}) "
    f"ON CONFLICT (id) DO NOTHING"
)
# See schema.update_row: an update writes only what a step changes.
_UPDATE_WORKFLOW = (
    "UPDATE workflows SET state = ?, status = ?, current_step = ?, metadata = ?, version = ?, "
    "updated_at = ?, parent_id = ?, engine = ? WHERE id = ? AND version = ?"
)
_UPSERT_TASK = (
    f"INSERT INTO task_results ({', '.join(TASK_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (workflow_id, step_name, task_name) DO UPDATE SET status = excluded.status, "
    f"result = excluded.result, error = excluded.error, started_at = excluded.started_at, "
    f"ended_at = excluded.ended_at"
)
_INSERT_LOG = f"INSERT INTO execution_log ({', '.join(LOG_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)"


class SQLitePersistenceProvider(PersistenceProvider):
    """Stores workflows in one SQLite file (standard-library ``sqlite3``, WAL journal).

    Every save is one transaction (workflow row, task-record deletion and log rows together), and
    several processes may share the file: writers queue on SQLite's lock for up to ``timeout``
    seconds. One connection serves all threads and event loops of this process, guarded by a lock;
    calls run inline because they take microseconds.

    Durability (``synchronous``):
        ``"NORMAL"`` (default): in WAL mode a commit is not fsynced; after a power loss or OS crash
        the last few committed transactions may be missing, but the database is never corrupt. A
        killed process (crash, SIGKILL) loses nothing that was committed.
        ``"FULL"``: every commit is fsynced, so it also survives power loss, at the cost of one
        fsync per step (typically 0.1-10 ms depending on the disk).
        ``"EXTRA"`` is accepted too (FULL plus a directory fsync).

    Args:
        db_path: The database file; created with its schema on first use. ``":memory:"`` works
            for one process (no WAL).
        synchronous: ``"NORMAL"`` or ``"FULL"`` (see above).
        timeout: Seconds to wait for another process's write lock before failing.

    Raises:
        ConfigurationError: ``synchronous`` is not one of the modes above.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] = "ruvon.db",
        synchronous: str = "NORMAL",
        *,
        timeout: float = 30.0,
    ) -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"SQLitePersistenceProvider(synchronous={synchronous!r}) is not supported; use "
                f"'NORMAL' (fast, may lose the last commits on power loss) or 'FULL' (survives "
                f"power loss)."
            )
        self.db_path = os.fspath(db_path)
        self.synchronous = mode
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._label = f"The SQLite database {self.db_path}"
        self._definitions = JsonCache()

    # -- lifecycle -------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Open the database and create or migrate its schema (idempotent).

        Raises:
            SchemaVersionError: The file was written by a newer ruvon; it is left untouched.
            PersistenceError: The file cannot be opened or is not a SQLite database.
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
        try:
            conn = sqlite3.connect(
                self.db_path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise PersistenceError(
                f"{self._label} cannot be opened ({exc}). Check that the directory exists and is "
                f"writable, or pass another db_path."
            ) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            self._migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise PersistenceError(
                    f"{self._label} cannot be initialized ({exc}). Check that the file is a "
                    f"SQLite database written by ruvon, or pass another db_path."
                ) from exc
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one initializer at a time, also across processes
        try:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                f"(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            (current,) = conn.execute(
                f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}"
            ).fetchone()
            for migration in pending_migrations(int(current), self._label):
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

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run one write transaction; sqlite3 errors become PersistenceError."""
        conn = self._connection()
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise PersistenceError(
                    f"{self._label}: could not {what} ({exc}). If the database is locked, another "
                    f"process holds it longer than timeout={self.timeout}s."
                ) from exc

    @contextmanager
    def _reading(self, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        with self._lock:
            try:
                yield conn
            except sqlite3.Error as exc:
                raise PersistenceError(f"{self._label}: could not {what} ({exc}).") from exc

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
            PersistenceError: SQLite failed (the message says why).
        """
        new_version = record.version + 1
        now = time.time()
        with self._transaction(f"save workflow '{record.id}'") as conn:
            if record.version == 0:
                row = insert_row(record, new_version, now, dump_json, self._definitions.dumps)
                cursor = conn.execute(_INSERT_WORKFLOW, row)
            else:
                cursor = conn.execute(
                    _UPDATE_WORKFLOW, update_row(record, new_version, now, dump_json)
                )
            if cursor.rowcount != 1:
                row = conn.execute(
                    "SELECT version FROM workflows WHERE id = ?", (record.id,)
                ).fetchone()
                stored = None if row is None else int(row[0])
                raise VersionConflict(
                    version_conflict_message(record.id, stored, record.version, self._label)
                )
            if finished_step is not None:
                conn.execute(
                    "DELETE FROM task_results WHERE workflow_id = ? AND step_name = ?",
                    (record.id, finished_step),
                )
            if log:
                conn.executemany(_INSERT_LOG, [log_row(entry) for entry in log])
        return new_version

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """Load one workflow.

        Raises:
            WorkflowNotFound: No workflow with that id is stored (the message names the id).
        """
        with self._reading(f"load workflow '{workflow_id}'") as conn:
            row = conn.execute(
                f"SELECT {_COLS} FROM workflows WHERE id = ?", (workflow_id,)
            ).fetchone()
        if row is None:
            raise WorkflowNotFound(not_found_message(workflow_id, self._label))
        return workflow_from_row(row, json.loads)

    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Workflows, newest first (by ``created_at``), optionally filtered by status and type."""
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if workflow_type is not None:
            where.append("workflow_type = ?")
            params.append(workflow_type)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        sql = f"SELECT {_COLS} FROM workflows {clause}ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._reading("list workflows") as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [workflow_from_row(row, json.loads) for row in rows]

    # -- task results ----------------------------------------------------------------------------
    async def save_task_result(self, record: TaskRecord) -> None:
        """Save or replace the outcome of one PARALLEL task."""
        await self.save_task_results([record])

    async def save_task_results(self, records: Sequence[TaskRecord]) -> None:
        """Save or replace several task outcomes in one transaction."""
        if not records:
            return
        first = records[0]
        what = f"save task '{first.task_name}' of workflow '{first.workflow_id}'"
        if len(records) > 1:
            what = f"save {len(records)} task results of workflow '{first.workflow_id}'"
        with self._transaction(what) as conn:
            conn.executemany(_UPSERT_TASK, [_task_values(record) for record in records])

    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Saved outcomes of the step's current run, by task name."""
        with self._reading(f"load task results of workflow '{workflow_id}'") as conn:
            rows = conn.execute(
                f"SELECT {', '.join(TASK_COLUMNS)} FROM task_results "
                f"WHERE workflow_id = ? AND step_name = ?",
                (workflow_id, step_name),
            ).fetchall()
        return {row[2]: task_from_row(row, json.loads) for row in rows}

    # -- execution log ---------------------------------------------------------------------------
    async def append_log(self, entry: LogEntry) -> None:
        """Append one entry to the workflow's execution log."""
        with self._transaction(f"append to the log of workflow '{entry.workflow_id}'") as conn:
            conn.execute(_INSERT_LOG, log_row(entry))

    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """The workflow's execution log, oldest first."""
        with self._reading(f"load the log of workflow '{workflow_id}'") as conn:
            rows = conn.execute(
                f"SELECT {', '.join(LOG_COLUMNS)} FROM execution_log WHERE workflow_id = ? "
                f"ORDER BY id",
                (workflow_id,),
            ).fetchall()
        return [log_from_row(row) for row in rows]


def _task_values(record: TaskRecord) -> tuple[Any, ...]:
    return (
        record.workflow_id,
        record.step_name,
        record.task_name,
        record.status,
        None if record.result is None else dump_json(record.result),
        record.error,
        record.started_at,
        record.ended_at,
    )
