"""Open the workflow store (SQLite file or PostgreSQL URL) the CLI commands work on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ruvon.errors import ConfigurationError
from ruvon.providers.persistence import PersistenceProvider

DEFAULT_DB = "ruvon.db"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(db: str) -> bool:
    """Whether ``db`` names a PostgreSQL server rather than an SQLite file."""
    return db.startswith(_POSTGRES_SCHEMES)


def open_store(db: str) -> PersistenceProvider:
    """The persistence provider for ``db`` (not yet initialized).

    Args:
        db: A ``postgresql://`` or ``postgres://`` URL for PostgreSQL; anything else is the path of
            an SQLite database file (created on first use).

    Raises:
        ConfigurationError: The provider's optional dependencies are not installed.
    """
    # Imported here so that a missing optional driver only matters for the store actually used.
    try:
        if is_postgres_url(db):
            from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

            return PostgresPersistenceProvider(db)
        from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

        return SQLitePersistenceProvider(db_path=db)
    except ImportError as exc:
        extra = "postgres" if is_postgres_url(db) else "cli"
        raise ConfigurationError(
            f"The store {describe_store(db)} cannot be opened because a module is missing "
            f"({exc}). Did you forget to pip install 'ruvon[{extra}]'?"
        ) from None


def describe_store(db: str) -> str:
    """A short, password-free description of ``db`` for messages."""
    if is_postgres_url(db):
        scheme, _, rest = db.partition("://")
        host = rest.rpartition("@")[2]
        return f"{scheme}://{host}"
    return db


@asynccontextmanager
async def opened_store(db: str) -> AsyncIterator[PersistenceProvider]:
    """Open, initialize and finally close the store for ``db``."""
    store = open_store(db)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()
