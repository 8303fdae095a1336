"""Open the workflow store (SQLite file or PostgreSQL URL) the CLI commands work on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ruvon.errors import ConfigurationError, DatabaseNotFound, WorkflowNotFound
from ruvon.providers.persistence import PersistenceProvider

DEFAULT_DB = "ruvon.db"
LOCK_TIMEOUT = 5.0
"""Seconds a CLI command waits for an SQLite database another process holds locked."""

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite:///"
SUPPORTED_FORMS = (
    "a file path (ruvon.db), sqlite:///path/to/file.db, or postgresql://user@host:port/dbname"
)


def is_postgres_url(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL server rather than an SQLite file."""
    return db.startswith(_POSTGRES_SCHEMES)


def sqlite_path(db: str) -> str:
    """The SQLite file ``db`` names: a plain path or ``sqlite:///path``.

    Raises:
        ConfigurationError: ``db`` is a URL of another kind (``mysql://...``).
    """
    if db.startswith(_SQLITE_SCHEME):
        return db[len(_SQLITE_SCHEME) :]
    scheme, sep, _ = db.partition("://")
    if sep and scheme.replace("+", "").isalnum():
        raise ConfigurationError(
            f"--db {describe_store(db)} is not supported: ruvon stores workflows in SQLite or "
            f"PostgreSQL. Use {SUPPORTED_FORMS}."
        )
    return db


def open_store(db: str, *, create: bool = True) -> PersistenceProvider:
    """The persistence provider for ``db`` (not yet initialized).

    Args:
        db: A ``postgresql://`` or ``postgres://`` URL for PostgreSQL; a file path or
            ``sqlite:///path`` for SQLite.
        create: Create the database (SQLite file, tables) if missing. Read-only commands pass
            False: a missing database is then refused with "no ruvon database at ...", and
            nothing is created.

    Raises:
        ConfigurationError: ``db`` has an unsupported URL scheme, or the provider's optional
            dependencies are not installed.
    """
    path = None if is_postgres_url(db) else sqlite_path(db)
    # Imported here so that a missing optional driver only matters for the store actually used.
    try:
        if path is None:
            from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

            return PostgresPersistenceProvider(db, create=create)
        from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

        return SQLitePersistenceProvider(db_path=path, timeout=LOCK_TIMEOUT, create=create)
    except ImportError as exc:
        extra = "postgres" if is_postgres_url(db) else "cli"
        raise ConfigurationError(
            f"The store {describe_store(db)} cannot be opened because a module is missing "
            f"({exc}). Did you forget to pip install 'ruvon[{extra}]'?"
        ) from None


def describe_store(db: str) -> str:
    """A short, password-free description of ``db`` for messages."""
    scheme, sep, rest = db.partition("://")
    if sep and not db.startswith(_SQLITE_SCHEME):
        host = rest.rpartition("@")[2]
        return f"{scheme}://{host}"
    return db


@asynccontextmanager
async def opened_store(
    db: str, *, create: bool = True, workflow_id: str | None = None
) -> AsyncIterator[PersistenceProvider]:
    """Open, initialize and finally close the store for ``db``.

    Args:
        db: As for :func:`open_store`.
        create: False for commands that only read or change existing workflows (``list``,
            ``show``, ``cancel``, ``resume``): they never create a file or tables.
        workflow_id: The workflow the command is about: a missing database then raises
            WorkflowNotFound naming it (the CLI's "not found" exit code).

    Raises:
        DatabaseNotFound: ``create`` is False and there is no ruvon database at ``db``.
        WorkflowNotFound: The same, when ``workflow_id`` is given.
    """
    store = open_store(db, create=create)
    try:
        await store.initialize()
    except DatabaseNotFound as exc:
        if workflow_id is None:
            raise
        raise WorkflowNotFound(f"No workflow with id '{workflow_id}' can be found: {exc}") from exc
    try:
        yield store
    finally:
        await store.close()
