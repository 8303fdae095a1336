"""Values a store cannot save, read-only opening, locks, unreachable servers and group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from ruvon.cli.store import open_store, opened_store, sqlite_path
from ruvon.errors import (
    ConfigurationError,
    DatabaseNotFound,
    PersistenceError,
    VersionConflict,
    WorkflowNotFound,
)
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import LogEntry, PersistenceProvider, TaskRecord, WorkflowRecord


def record(workflow_id: str, **state: Any) -> WorkflowRecord:
    return WorkflowRecord(
        id=workflow_id,
        workflow_type="T",
        workflow_version="1",
        state_model_path="m.S",
        definition={"steps": []},
        state=state or {"n": 1},
        status="ACTIVE",
        current_step=0,
    )


# -- values that cannot be stored -----------------------------------------------------------------
async def test_a_value_that_is_not_json_is_refused_naming_its_path(
    store: PersistenceProvider,
) -> None:
    saved = record("w1")
    saved.version = await store.save_workflow(saved)
    saved.state = {"n": 2, "items": [{"ok": 1}, {"when": object()}]}

    with pytest.raises(PersistenceError, match=r"'w1'.*state\.items\[1\]\.when.*JSON") as caught:
        await store.save_workflow(saved, log=[LogEntry("w1", "STEP_COMPLETED", "A")])

    assert not isinstance(caught.value, TypeError)
    stored = await store.load_workflow("w1")
    assert (stored.version, stored.state) == (1, {"n": 1})
    assert await store.load_log("w1") == []


async def test_unstorable_metadata_of_a_new_workflow_writes_nothing(
    store: PersistenceProvider,
) -> None:
    new = record("w2")
    new.metadata = {"tags": {1, 2}}

    with pytest.raises(PersistenceError, match=r"metadata\.tags"):
        await store.save_workflow(new)

    with pytest.raises(WorkflowNotFound):
        await store.load_workflow("w2")


async def test_an_unstorable_task_result_is_refused_naming_its_path(
    store: PersistenceProvider,
) -> None:
    good = TaskRecord("w1", "Par", "a", "COMPLETED", result={"x": 1})
    bad = TaskRecord("w1", "Par", "b", "COMPLETED", result={"x": {"y": object()}})

    with pytest.raises(PersistenceError, match=r"Task 'b'.*result\.x\.y"):
        await store.save_task_results([good, bad])

    assert await store.load_task_results("w1", "Par") == {}


@pytest.mark.postgres
@pytest.mark.parametrize("field", ["state", "metadata", "engine"])
async def test_postgres_refuses_nul_in_any_string_before_writing(
    postgres_dsn: str, field: str
) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider(postgres_dsn, max_size=2)
    try:
        saved = record("w1")
        saved.version = await provider.save_workflow(saved)
        setattr(saved, field, {"note": "a\u0000b"})
        with pytest.raises(
            PersistenceError,
            match=rf"Workflow 'w1'.*{field}\.note.*PostgreSQL text cannot hold NUL characters",
        ):
            await provider.save_workflow(saved, log=[LogEntry("w1", "STEP_COMPLETED", "A")])
        assert (await provider.load_workflow("w1")).version == 1
        assert await provider.load_log("w1") == []

        task = TaskRecord("w1", "Par", "t", "COMPLETED", result={"k": ["\u0000"]})
        with pytest.raises(PersistenceError, match=r"result\.k\[0\].*NUL"):
            await provider.save_task_results([task])
    finally:
        await provider.close()


@pytest.mark.postgres
async def test_postgres_stores_an_escaped_backslash_u0000_and_nul_in_log_text(
    postgres_dsn: str,
) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider(postgres_dsn, max_size=2)
    try:
        saved = record("w1", text="\\u0000 is how JSON writes NUL")
        entry = LogEntry("w1", "STEP_FAILED", "A", message="bad\u0000byte")
        await provider.save_workflow(saved, log=[entry])
        assert (await provider.load_workflow("w1")).state == saved.state
        assert (await provider.load_log("w1"))[0].message == "bad\ufffdbyte"
    finally:
        await provider.close()


# -- read-only opening (create=False) -------------------------------------------------------------
async def test_sqlite_create_false_creates_no_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"

    with pytest.raises(DatabaseNotFound, match=r"no ruvon database at .*absent\.db"):
        await SQLitePersistenceProvider(path, create=False).initialize()

    assert not path.exists()


async def test_sqlite_create_false_leaves_a_foreign_database_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()

    with pytest.raises(DatabaseNotFound, match="no ruvon tables"):
        await SQLitePersistenceProvider(path, create=False).initialize()

    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


async def test_sqlite_create_false_reads_an_existing_database(tmp_path: Path) -> None:
    writer = SQLitePersistenceProvider(tmp_path / "r.db")
    await writer.save_workflow(record("w1"))
    await writer.close()
    reader = SQLitePersistenceProvider(tmp_path / "r.db", create=False)
    try:
        assert [r.id for r in await reader.list_workflows()] == ["w1"]
    finally:
        await reader.close()


@pytest.mark.postgres
async def test_postgres_create_false_creates_no_tables(postgres_dsn: str) -> None:
    import psycopg

    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    with pytest.raises(DatabaseNotFound, match="no ruvon_schema_migrations table"):
        await PostgresPersistenceProvider(postgres_dsn, create=False).initialize()

    with psycopg.connect(postgres_dsn) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchone()
    assert found == (0,)


async def test_cli_read_commands_never_create_the_database(tmp_path: Path) -> None:
    path = tmp_path / "ruvon.db"

    with pytest.raises(DatabaseNotFound):
        async with opened_store(str(path), create=False):
            pass
    with pytest.raises(WorkflowNotFound, match=r"'abc'.*no ruvon database"):
        async with opened_store(str(path), create=False, workflow_id="abc"):
            pass

    assert not path.exists()


@pytest.mark.parametrize("db", ["mysql://x", "mongodb://u:pw@h/db", "redis://localhost"])
def test_cli_refuses_unknown_url_schemes_naming_the_supported_forms(db: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite:///.*postgresql://") as caught:
        open_store(db)
    assert "pw" not in str(caught.value)


def test_cli_accepts_sqlite_urls(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/x.db") == f"{tmp_path}/x.db"
    store = open_store(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(store, SQLitePersistenceProvider)
    assert store.db_path == f"{tmp_path}/x.db"


# -- locks and unreachable servers ----------------------------------------------------------------
async def test_a_locked_sqlite_database_is_called_locked(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    await SQLitePersistenceProvider(path).initialize()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    provider = SQLitePersistenceProvider(path, timeout=0.1)
    try:
        with pytest.raises(PersistenceError, match="locked by another process") as caught:
            await provider.save_workflow(record("w1"))
        assert "not a" not in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await provider.close()


async def test_a_locked_sqlite_database_is_called_locked_while_migrating(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PersistenceError, match=r"new\.db is locked by another process"):
            await SQLitePersistenceProvider(path, timeout=0.1).initialize()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_an_unreachable_postgres_server_names_host_and_port() -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider("host=127.0.0.1 port=1 user=postgres dbname=test")

    with pytest.raises(PersistenceError, match=r"127\.0\.0\.1:1 .*pg_isready -h 127\.0\.0\.1 -p 1"):
        await provider.initialize()


# -- group commit ---------------------------------------------------------------------------------
async def test_concurrent_saves_are_committed_together_each_checked(tmp_path: Path) -> None:
    provider = SQLitePersistenceProvider(tmp_path / "g.db")
    await provider.initialize()
    records = [record(f"w{i}") for i in range(4)]
    for saved in records:
        saved.version = await provider.save_workflow(saved)
    stale = record("w0")
    stale.version = 0  # a second "new" w0: must conflict alone
    outcomes: dict[str, Any] = {}

    def save(saved: WorkflowRecord) -> None:
        log = [LogEntry(saved.id, "STEP_COMPLETED", "A")]
        try:
            outcomes[f"{saved.id}@{saved.version}"] = asyncio.run(
                provider.save_workflow(saved, log=log)
            )
        except VersionConflict as exc:
            outcomes[f"{saved.id}@{saved.version}"] = exc

    with provider._lock:  # hold the connection so that every save queues behind it
        threads = [threading.Thread(target=save, args=(r,)) for r in [*records, stale]]
        for thread in threads:
            thread.start()
        while len(provider._queue) < len(threads):
            await asyncio.sleep(0.001)
    for thread in threads:
        thread.join()

    assert {key: value for key, value in outcomes.items() if key != "w0@0"} == {
        f"w{i}@1": 2 for i in range(4)
    }
    assert isinstance(outcomes["w0@0"], VersionConflict)
    for i in range(4):
        assert (await provider.load_workflow(f"w{i}")).version == 2
        assert [e.event for e in await provider.load_log(f"w{i}")] == ["STEP_COMPLETED"]
    await provider.close()


@pytest.mark.postgres
async def test_postgres_refuses_nan_naming_the_field(postgres_dsn: str) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    provider = PostgresPersistenceProvider(postgres_dsn, max_size=2)
    try:
        with pytest.raises(PersistenceError, match=r"state\.ratio is nan.*NaN or infinite"):
            await provider.save_workflow(record("w1", ratio=float("nan")))
        with pytest.raises(WorkflowNotFound):
            await provider.load_workflow("w1")
    finally:
        await provider.close()
