"""Schema versions and migrations, and the options and errors of the SQL providers."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ruvon.errors import ConfigurationError, PersistenceError, SchemaVersionError
from ruvon.implementations.persistence.schema import MIGRATIONS_TABLE, SCHEMA_VERSION
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import WorkflowRecord

if TYPE_CHECKING:
    from conftest import StoreFactory


def record(workflow_id: str) -> WorkflowRecord:
    return WorkflowRecord(
        id=workflow_id,
        workflow_type="T",
        workflow_version="1",
        state_model_path="m.S",
        definition={},
        state={"n": 1},
        status="ACTIVE",
        current_step=0,
    )


async def test_initialize_records_the_schema_version_and_is_idempotent(
    sql_stores: StoreFactory,
) -> None:
    provider = sql_stores.new()
    await provider.initialize()
    await provider.initialize()
    await provider.save_workflow(record("w1"))
    await sql_stores.new().initialize()  # a second provider on the same database

    rows = sql_stores.raw(f"SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    assert (await provider.load_workflow("w1")).state == {"n": 1}
    for table in ("workflows", "task_results", "execution_log"):
        assert sql_stores.raw(f"SELECT COUNT(*) FROM {table}")[0][0] == int(table == "workflows")


async def test_concurrent_initializers_migrate_once(sql_stores: StoreFactory) -> None:
    providers = [sql_stores.new() for _ in range(5)]
    await asyncio.gather(*(p.initialize() for p in providers))

    assert sql_stores.raw(f"SELECT COUNT(*) FROM {MIGRATIONS_TABLE}")[0][0] == SCHEMA_VERSION


async def test_a_newer_schema_is_refused_and_left_untouched(sql_stores: StoreFactory) -> None:
    provider = sql_stores.new()
    await provider.initialize()
    await provider.save_workflow(record("keep-me"))
    await provider.close()
    newer = SCHEMA_VERSION + 2
    sql_stores.raw(
        f"INSERT INTO {MIGRATIONS_TABLE} (version, applied_at) VALUES (%s, %s)", (newer, 1.0)
    )

    with pytest.raises(SchemaVersionError) as caught:
        await sql_stores.new().initialize()

    message = str(caught.value)
    assert f"has schema version {newer} but this ruvon knows up to {SCHEMA_VERSION}" in message
    assert "upgrade ruvon" in message
    if sql_stores.kind == "sqlite":
        assert f"The SQLite database {sql_stores.target} " in message
    assert isinstance(caught.value, PersistenceError)
    versions = sql_stores.raw(f"SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version")
    assert [r[0] for r in versions] == [*range(1, SCHEMA_VERSION + 1), newer]
    assert sql_stores.raw("SELECT id, version FROM workflows") == [("keep-me", 1)]


# -- SQLite ---------------------------------------------------------------------------------------
def test_sqlite_rejects_an_unknown_synchronous_mode() -> None:
    with pytest.raises(ConfigurationError, match=r"'NORMAL'.*'FULL'"):
        SQLitePersistenceProvider("x.db", synchronous="OFF")


@pytest.mark.parametrize(("mode", "pragma"), [("NORMAL", 1), ("full", 2)])
async def test_sqlite_uses_wal_and_the_chosen_synchronous_mode(
    tmp_path: Path, mode: str, pragma: int
) -> None:
    provider = SQLitePersistenceProvider(tmp_path / "s.db", synchronous=mode)
    await provider.initialize()
    conn = provider._connection()
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == pragma
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await provider.close()


async def test_sqlite_data_survives_close_and_reopen(tmp_path: Path) -> None:
    first = SQLitePersistenceProvider(tmp_path / "r.db")
    await first.save_workflow(record("w1"))  # opens lazily, without initialize()
    await first.close()
    second = SQLitePersistenceProvider(tmp_path / "r.db")
    try:
        assert (await second.load_workflow("w1")).version == 1
    finally:
        await second.close()


async def test_sqlite_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text that is long enough " * 20)
    provider = SQLitePersistenceProvider(path)

    with pytest.raises(PersistenceError, match=r"notes\.txt.*not a database"):
        await provider.initialize()


async def test_sqlite_missing_directory_is_named(tmp_path: Path) -> None:
    provider = SQLitePersistenceProvider(tmp_path / "missing" / "r.db")

    with pytest.raises(PersistenceError, match=r"missing.*cannot be opened"):
        await provider.initialize()


def test_sqlite_schema_file_is_readable_without_ruvon(tmp_path: Path) -> None:
    asyncio.run(SQLitePersistenceProvider(tmp_path / "plain.db").initialize())
    conn = sqlite3.connect(tmp_path / "plain.db")
    try:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert {"ix_workflows_status", "ix_workflows_workflow_type"} <= indexes


# -- PostgreSQL -----------------------------------------------------------------------------------
@pytest.mark.postgres
async def test_postgres_missing_schema_is_explained(postgres_server: str) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider(
        f"{postgres_server} options=-csearch_path=no_such_schema_xyz"
    )
    with pytest.raises(PersistenceError, match="search_path schema exists"):
        await provider.initialize()


@pytest.mark.postgres
async def test_postgres_rejects_bad_pool_sizes(postgres_server: str) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    with pytest.raises(ConfigurationError, match="min_size"):
        PostgresPersistenceProvider(postgres_server, min_size=5, max_size=2)


@pytest.mark.postgres
async def test_postgres_provider_used_from_another_loop_says_so(postgres_dsn: str) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider(postgres_dsn, max_size=2)
    await provider.initialize()
    try:
        with pytest.raises(PersistenceError, match="one provider per event loop"):
            await asyncio.to_thread(asyncio.run, provider.load_workflow("x"))
    finally:
        await provider.close()


@pytest.mark.postgres
async def test_postgres_unstorable_text_is_a_persistence_error(postgres_dsn: str) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider(postgres_dsn, max_size=2)
    bad = record("nul")
    bad.state = {"text": "a\u0000b"}
    try:
        with pytest.raises(PersistenceError, match=r"Workflow 'nul'.*state\.text.*NUL"):
            await provider.save_workflow(bad)
        await provider.save_workflow(record("ok"))  # the pool is still usable
    finally:
        await provider.close()


async def test_migration_2_moves_engine_keys_out_of_the_users_metadata(
    sql_stores: StoreFactory,
) -> None:
    from ruvon.implementations.persistence.schema import MIGRATIONS

    dialect = "sqlite" if sql_stores.kind == "sqlite" else "postgres"
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    sql_stores.raw(
        f"CREATE TABLE {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, applied_at {real} NOT NULL)"
    )
    for statement in getattr(MIGRATIONS[0], dialect):
        sql_stores.raw(statement)
    sql_stores.raw(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (1, 0)")
    old = (
        '{"error": {"step": "a", "message": "boom"}, "loop_progress": {"L": 2}, '
        '"sub_workflows": {}, "user_key": "mine"}'
    )
    for workflow_id, metadata in (("old", old), ("empty", "{}")):
        sql_stores.raw(
            "INSERT INTO workflows VALUES (%s, 'T', '1', 'm.S', '{}', '{}', 'FAILED', 0, %s, 1, "
            "0, 0, NULL)",
            (workflow_id, metadata),
        )

    provider = sql_stores.new()
    await provider.initialize()

    migrated = await provider.load_workflow("old")
    assert migrated.metadata == {"user_key": "mine"}
    assert migrated.engine == {
        "error": {"step": "a", "message": "boom"},
        "loop_progress": {"L": 2},
        "sub_workflows": {},
    }
    empty = await provider.load_workflow("empty")
    assert (empty.metadata, empty.engine) == ({}, {})


async def test_migration_6_records_when_ended_workflows_ended(sql_stores: StoreFactory) -> None:
    from ruvon.implementations.persistence.schema import MIGRATIONS

    dialect = "sqlite" if sql_stores.kind == "sqlite" else "postgres"
    real = "REAL" if dialect == "sqlite" else "DOUBLE PRECISION"
    sql_stores.raw(
        f"CREATE TABLE {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, applied_at {real} NOT NULL)"
    )
    for migration in MIGRATIONS[:5]:
        for statement in getattr(migration, dialect):
            sql_stores.raw(statement)
        sql_stores.raw(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, 0)", (migration.version,))
    for workflow_id, status, updated_at in (
        ("done", "COMPLETED", 100.0),
        ("live", "ACTIVE", 200.0),
    ):
        sql_stores.raw(
            "INSERT INTO workflows (id, workflow_type, workflow_version, state_model_path, "
            "definition, state, status, current_step, metadata, version, created_at, updated_at) "
            "VALUES (%s, 'T', '1', 'm.S', '{}', '{}', %s, 0, '{}', 1, 0, %s)",
            (workflow_id, status, updated_at),
        )

    await sql_stores.new().initialize()

    ended = dict(sql_stores.raw("SELECT id, ended_at FROM workflows"))
    assert ended == {"done": 100.0, "live": None}
    definitions = " ".join(_index_definitions(sql_stores))
    assert "ix_workflows_ended" in definitions
    assert "ix_workflows_status_updated" not in definitions


def _index_definitions(stores: StoreFactory) -> list[str]:
    if stores.kind == "sqlite":
        rows = stores.raw(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'workflows' "
            "AND sql IS NOT NULL"
        )
    else:
        rows = stores.raw(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'workflows' "
            "AND schemaname = current_schema()"
        )
    return [str(row[0]) for row in rows]


async def test_no_index_holds_a_column_that_every_steps_save_writes(
    sql_stores: StoreFactory,
) -> None:
    # A step's save writes these columns only; if no index (key or partial predicate) names one,
    # PostgreSQL updates the row without touching an index (HOT) and SQLite writes no index page.
    from ruvon.implementations.persistence.sql import _ALWAYS

    await sql_stores.new().initialize()
    definitions = _index_definitions(sql_stores)
    assert len(definitions) >= 6, definitions
    written = re.compile(r"\b(" + "|".join(_ALWAYS) + r")\b")
    assert [d for d in definitions if written.search(d)] == []


async def test_ended_at_is_written_when_a_workflow_ends_and_cleared_when_it_runs_again(
    sql_stores: StoreFactory,
) -> None:
    from ruvon.runtime.leases import lease_store_for

    provider = sql_stores.new()
    await provider.initialize()
    leases = lease_store_for(provider)
    assert leases is not None

    def ended_at(workflow_id: str) -> float | None:
        value = sql_stores.raw("SELECT ended_at FROM workflows WHERE id = %s", (workflow_id,))
        return None if value[0][0] is None else float(value[0][0])

    saved = record("w")
    saved.version = await provider.save_workflow(saved)
    assert ended_at("w") is None
    saved.state = {"n": 2}
    saved.version = await provider.save_workflow(saved)  # a step's save: still running
    assert ended_at("w") is None
    saved.status = "FAILED"
    before = time.time()
    saved.version = await provider.save_workflow(saved)
    when = ended_at("w")
    assert when is not None and before <= when <= time.time()
    saved.status = "ACTIVE"  # retried: running again
    saved.version = await provider.save_workflow(saved)
    assert ended_at("w") is None

    born_ended = record("born-ended")
    born_ended.status = "COMPLETED"
    await provider.save_workflow(born_ended)
    assert ended_at("born-ended") is not None

    await provider.save_workflow(record("cancelled"))
    await leases.cancel("cancelled", "test")
    assert ended_at("cancelled") is not None

    await provider.save_workflow(record("zombie"))
    await leases.acquire("zombie", "dead-owner", 0.001)
    await asyncio.sleep(0.01)
    assert await leases.fail_zombies(["zombie"], time.time()) == ["zombie"]
    assert ended_at("zombie") is not None
