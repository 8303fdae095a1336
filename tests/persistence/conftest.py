"""Fixtures for the persistence tests: one store per provider, on a fresh database each test.

PostgreSQL tests get a schema of their own (``search_path`` set through the DSN) that is dropped
afterwards. Without a reachable server they are skipped, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider

# The resume and throughput tests import their workflow module by name, also in subprocesses.
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

POSTGRES_DSN = os.environ.get(
    "RUVON_TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)

ALL_KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The base DSN of a reachable PostgreSQL server (skip locally, fail in CI without one)."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        message = (
            f"PostgreSQL is not reachable at '{POSTGRES_DSN}' ({exc}). Start it or set "
            f"RUVON_TEST_POSTGRES_DSN."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_DSN


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A DSN whose search_path is a new, empty schema, dropped after the test."""
    import psycopg

    schema = f"ruvon_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_server} options=-csearch_path={schema}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@dataclass
class StoreFactory:
    """Makes providers of one kind that all point at the same (fresh) database.

    Attributes:
        kind: ``"memory"``, ``"sqlite"`` or ``"postgres"``.
        target: The SQLite file or the PostgreSQL DSN (empty for memory).
    """

    kind: str
    target: str = ""
    made: list[PersistenceProvider] = field(default_factory=list)
    _memory: InMemoryPersistenceProvider | None = None

    def new(self, **options: Any) -> PersistenceProvider:
        """A new, uninitialized provider on this database (memory: always the same one)."""
        provider: PersistenceProvider
        if self.kind == "memory":
            if self._memory is None:
                self._memory = InMemoryPersistenceProvider()
            return self._memory
        if self.kind == "sqlite":
            provider = SQLitePersistenceProvider(self.target, **options)
        else:
            from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

            provider = PostgresPersistenceProvider(self.target, **options)
        self.made.append(provider)
        return provider

    def raw(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the database directly (no ruvon code) and commit it."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target)
            try:
                rows = conn.execute(sql.replace("%s", "?"), params).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as pg:
            cursor = pg.execute(sql.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []


def _factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if kind == "sqlite":
        return StoreFactory(kind, str(tmp_path / "ruvon.db"))
    if kind == "postgres":
        return StoreFactory(kind, request.getfixturevalue("postgres_dsn"))
    return StoreFactory(kind)


async def _closed(factory: StoreFactory) -> None:
    for provider in factory.made:
        await provider.close()


@pytest.fixture(params=ALL_KINDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A StoreFactory for every provider."""
    factory = _factory(request.param, request, tmp_path)
    yield factory
    await _closed(factory)


@pytest.fixture(params=SQL_KINDS)
async def sql_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A StoreFactory for every SQL provider (schema and migrations tests)."""
    factory = _factory(request.param, request, tmp_path)
    yield factory
    await _closed(factory)


@pytest.fixture
async def store(stores: StoreFactory) -> PersistenceProvider:
    """An initialized provider of every kind, on a fresh database."""
    provider = stores.new()
    await provider.initialize()
    return provider
