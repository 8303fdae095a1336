"""Read-only SQL on a ruvon store for ``ruvon db status|stats`` and ``ruvon metrics``.

These commands only read, so they never go through a provider's ``initialize()`` (which creates
and migrates the schema): an SQLite file is opened with ``mode=ro``, a PostgreSQL session is made
read-only. The statements use only the tables of schema version 1 and later.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruvon.cli.store import describe_store, is_postgres_url
from ruvon.errors import ConfigurationError, PersistenceError

TABLES = ("workflows", "task_results", "execution_log")


class NoDatabase(ConfigurationError):
    """The SQLite file named by ``--db`` does not exist."""


class ReadOnlyStore:
    """A read-only connection to the store named by ``--db`` (SQLite file or PostgreSQL URL)."""

    def __init__(self, db: str, connection: Any, postgres: bool) -> None:
        self.db = db
        self.postgres = postgres
        self._conn = connection

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query (``?`` placeholders) and return its rows."""
        if self.postgres:
            sql = sql.replace("?", "%s")
        try:
            return [tuple(row) for row in self._conn.execute(sql, tuple(params)).fetchall()]
        except Exception as exc:
            raise PersistenceError(
                f"Reading the store {describe_store(self.db)} failed: {exc}".rstrip(".") + "."
            ) from None

    def has_table(self, name: str) -> bool:
        """Whether the table exists (in the search path, on PostgreSQL)."""
        if self.postgres:
            found = self.rows("SELECT to_regclass(?) IS NOT NULL", (name,))
            return bool(found[0][0])
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)))

    def schema_version(self) -> int:
        """The schema version recorded in the store (0 for a database ruvon never set up)."""
        from ruvon.implementations.persistence.schema import MIGRATIONS_TABLE

        if not self.has_table(MIGRATIONS_TABLE):
            return 0
        return int(self.rows(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}")[0][0])

    def size_bytes(self) -> int | None:
        """The database's size on disk."""
        if self.postgres:
            return int(self.rows("SELECT pg_database_size(current_database())")[0][0])
        return Path(self.db).stat().st_size


@contextmanager
def read_only(db: str) -> Iterator[ReadOnlyStore]:
    """Open ``db`` for reading only; closed at the end of the block.

    Raises:
        NoDatabase: An SQLite file that does not exist (nothing is created).
        PersistenceError: The database cannot be opened.
    """
    if is_postgres_url(db):
        conn = _connect_postgres(db)
    else:
        if not Path(db).is_file():
            raise NoDatabase(
                f"There is no ruvon database at {db}. Create it with 'ruvon db init --db {db}' "
                f"(running a workflow creates it too), or point --db / RUVON_DB at yours."
            )
        try:
            conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise PersistenceError(f"The SQLite database {db} cannot be opened: {exc}.") from None
    try:
        yield ReadOnlyStore(db, conn, is_postgres_url(db))
    finally:
        conn.close()


def _connect_postgres(db: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigurationError(
            f"The store {describe_store(db)} needs psycopg, which is not installed. "
            f"Install it with: pip install 'ruvon[postgres]'."
        ) from None
    try:
        conn = psycopg.connect(db, connect_timeout=5, autocommit=True)
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PersistenceError(
            f"The PostgreSQL store {describe_store(db)} cannot be reached: {first}. Check the "
            f"URL and that the server runs."
        ) from None
    return conn


def table_counts(store: ReadOnlyStore) -> dict[str, int | None]:
    """Rows per ruvon table (``None`` for a table that does not exist)."""
    return {
        table: int(store.rows(f"SELECT COUNT(*) FROM {table}")[0][0])
        if store.has_table(table)
        else None
        for table in TABLES
    }


def workflow_rows(store: ReadOnlyStore, workflow_type: str | None) -> list[tuple[Any, ...]]:
    """``(workflow_type, status, count, total seconds, max seconds)`` per type and status.

    Seconds are ``updated_at - created_at``: for a finished workflow, how long it took.
    """
    where, params = ("WHERE workflow_type = ?", (workflow_type,)) if workflow_type else ("", ())
    return store.rows(
        "SELECT workflow_type, status, COUNT(*), SUM(updated_at - created_at), "
        f"MAX(updated_at - created_at) FROM workflows {where} "
        "GROUP BY workflow_type, status ORDER BY workflow_type, status",
        params,
    )


def step_rows(store: ReadOnlyStore, workflow_type: str | None) -> list[tuple[Any, ...]]:
    """``(workflow_type, step, event, count, total seconds, max seconds)`` of finished step runs."""
    where = "AND w.workflow_type = ?" if workflow_type else ""
    return store.rows(
        "SELECT w.workflow_type, l.step_name, l.event, COUNT(*), SUM(l.duration), MAX(l.duration) "
        "FROM execution_log l JOIN workflows w ON w.id = l.workflow_id "
        f"WHERE l.event IN ('STEP_COMPLETED', 'STEP_FAILED') {where} "
        "GROUP BY w.workflow_type, l.step_name, l.event ORDER BY w.workflow_type, l.step_name",
        (workflow_type,) if workflow_type else (),
    )
