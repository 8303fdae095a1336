"""What a driving session sends to the store: the lease taken in one statement, each save in one
transaction (SQLite) or one statement (PostgreSQL), and the lease given up by the save that ends
the workflow; and that the lease semantics hold around that (free after the run, taken back when
an ended workflow runs again, no LEASE_LOST from a renewal after the last save)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_kit import leases, write_project

from ruvon.builder import WorkflowBuilder
from ruvon.errors import LeaseHeld, VersionConflict
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sql import SQLPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.session import hold, renew

KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
CHAIN_STEPS = 5


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = write_project(tmp_path / "project")
    monkeypatch.syspath_prepend(str(made))
    monkeypatch.setenv("RT_STEP_MS", "0")
    monkeypatch.setenv("RT_SLOW", "0")
    return made


async def _open(kind: str, root: Path, request: pytest.FixtureRequest) -> PersistenceProvider:
    provider: PersistenceProvider
    if kind == "memory":
        provider = InMemoryPersistenceProvider()
    elif kind == "sqlite":
        provider = SQLitePersistenceProvider(root / "ruvon.db")
    else:
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        provider = PostgresPersistenceProvider(request.getfixturevalue("postgres_url"))
    await provider.initialize()
    return provider


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, root: Path) -> AsyncIterator[PersistenceProvider]:
    provider = await _open(request.param, root, request)
    yield provider
    await provider.close()


@pytest.fixture(params=SQL_KINDS)
async def sql_store(
    request: pytest.FixtureRequest, root: Path
) -> AsyncIterator[SQLPersistenceProvider]:
    provider = await _open(request.param, root, request)
    assert isinstance(provider, SQLPersistenceProvider)
    yield provider
    await provider.close()


@pytest.fixture
def builder(root: Path) -> WorkflowBuilder:
    return WorkflowBuilder(config_dir=root / "config")


async def lease_row(store: SQLPersistenceProvider, workflow_id: str) -> tuple[Any, Any]:
    sql = f"SELECT owner, lease_expires_at FROM workflows WHERE id = {store.dialect.param}"
    rows = await store._fetch("read the lease", sql, (workflow_id,))
    return rows[0][0], rows[0][1]


# -- semantics on every store ----------------------------------------------------------------------
@pytest.mark.parametrize("workflow_type", ["Chain5", "Human"])
async def test_the_lease_is_free_once_next_step_returns(store, builder, workflow_type):
    workflow = await builder.create_workflow(workflow_type, persistence_provider=store)
    await workflow.next_step()
    assert workflow.session is None
    expected = "COMPLETED" if workflow_type == "Chain5" else "WAITING_HUMAN"
    assert workflow.status == expected
    taken = await leases(store).acquire(workflow.id, "someone-else", 10.0)
    assert taken.took_over_from is None  # nobody held it: no takeover, no version bump
    assert taken.version == workflow._version


async def test_a_workflow_that_ends_and_runs_again_in_one_session_holds_the_lease_again(
    store, builder
):
    first = await builder.create_workflow("Slow", persistence_provider=store)
    second = await builder.load_workflow(first.id, persistence_provider=store)
    async with hold(first) as session:
        assert session is not None
        first.status = WorkflowStatus.FAILED
        await first.save()  # an ending save: on SQL it gives the lease up
        await renew([session])  # a renewal after it does not take the lease for lost
        assert not session.signal.lost
        await first.retry()  # runnable again: the lease is taken back before the save
        with pytest.raises(LeaseHeld):
            await second.next_step()
        await first.run_to_completion()
        assert first.status == "COMPLETED"
    assert not session.signal.lost
    taken = await leases(store).acquire(first.id, "someone-else", 10.0)
    assert taken.took_over_from is None


# -- SQL: the save that gives the lease up ---------------------------------------------------------
async def test_save_and_release_checks_the_version_and_frees_only_its_own_lease(sql_store, builder):
    workflow = await builder.create_workflow("Slow", persistence_provider=sql_store)
    store_leases = leases(sql_store)
    taken = await store_leases.acquire(workflow.id, "driver-a", 10.0)
    record = workflow.to_record()
    record.version = taken.version
    record.status = "COMPLETED"

    record.version -= 1  # a stale copy: refused, and the lease stays
    with pytest.raises(VersionConflict):
        await sql_store.save_and_release(record, "driver-a")
    assert (await lease_row(sql_store, workflow.id))[0] == "driver-a"

    record.version += 1  # another owner's last save does not free driver-a's lease
    version = await sql_store.save_and_release(record, "driver-b")
    assert (await lease_row(sql_store, workflow.id))[0] == "driver-a"

    record.version = version
    await sql_store.save_and_release(record, "driver-a")
    assert await lease_row(sql_store, workflow.id) == (None, None)
    assert (await sql_store.load_workflow(workflow.id)).status == "COMPLETED"


# -- what is sent ----------------------------------------------------------------------------------
@pytest.fixture
def sqlite_statements(root: Path) -> Iterator[tuple[SQLitePersistenceProvider, list[str]]]:
    provider = SQLitePersistenceProvider(root / "traced.db")
    sent: list[str] = []
    conn: sqlite3.Connection = provider._connection()
    conn.set_trace_callback(sent.append)
    yield provider, sent
    conn.set_trace_callback(None)
    conn.close()


async def test_sqlite_a_completing_run_is_one_lease_statement_and_one_transaction_per_step(
    sqlite_statements, builder
):
    store, sent = sqlite_statements
    workflow = await builder.create_workflow("Chain5", persistence_provider=store)
    sent.clear()
    await workflow.next_step()
    assert workflow.status == "COMPLETED"
    verbs = [statement.split()[0] for statement in sent]
    # The lease is taken by one UPDATE (a transaction of its own), each step is BEGIN, UPDATE of
    # the row, INSERT of its log row, COMMIT, and the last UPDATE also gives the lease up.
    assert verbs == ["UPDATE"] + ["BEGIN", "UPDATE", "INSERT", "COMMIT"] * CHAIN_STEPS, sent
    assert "owner = CASE WHEN owner" in sent[-3]
    assert not any(s.startswith("UPDATE workflows SET owner = NULL") for s in sent)
    assert await lease_row(store, workflow.id) == (None, None)


async def test_sqlite_a_run_that_waits_gives_the_lease_up_in_its_waiting_save(
    sqlite_statements, builder
):
    store, sent = sqlite_statements
    workflow = await builder.create_workflow("Human", persistence_provider=store)
    sent.clear()
    await workflow.next_step()
    assert workflow.status == "WAITING_HUMAN"
    assert sent[0].startswith("UPDATE workflows SET owner = ")
    assert sent[-1] == "COMMIT"
    waiting_save = [s for s in sent if "status = 'WAITING_HUMAN'" in s]
    assert len(waiting_save) == 1 and "owner = CASE WHEN owner" in waiting_save[0], sent
    assert not any(s.startswith("UPDATE workflows SET owner = NULL") for s in sent)
    assert await lease_row(store, workflow.id) == (None, None)
    taken = await leases(store).acquire(workflow.id, "someone-else", 10.0)
    assert taken.took_over_from is None


def _manual_builder(root: Path) -> WorkflowBuilder:
    """A builder that also knows ``Manual3``: three steps without ``automate_next``."""
    steps = "".join(f"  - {{name: M{i}, function: rtflows.steps.work}}\n" for i in range(1, 4))
    (root / "config" / "manual.yaml").write_text(
        f"workflow_type: Manual3\ninitial_state_model: rtflows.models.ChainState\nsteps:\n{steps}",
        encoding="utf-8",
    )
    return WorkflowBuilder(config_dir=root / "config")


async def test_sqlite_step_by_step_calls_give_the_lease_up_in_their_save(sqlite_statements, root):
    store, sent = sqlite_statements
    workflow = await _manual_builder(root).create_workflow("Manual3", persistence_provider=store)
    for call in range(3):
        sent.clear()
        await workflow.next_step()
        # The lease in one statement, then the step's one transaction whose UPDATE also frees it:
        # no release statement of its own.
        verbs = [statement.split()[0] for statement in sent]
        assert verbs == ["UPDATE", "BEGIN", "UPDATE", "INSERT", "COMMIT"], sent
        assert "owner = CASE WHEN owner" in sent[2]
        assert workflow.session is None
        assert await lease_row(store, workflow.id) == (None, None)
        if call < 2:  # free for anyone: taken without a takeover, then given back
            taken = await leases(store).acquire(workflow.id, "someone-else", 10.0)
            assert taken.took_over_from is None and taken.version == workflow._version
            await leases(store).release(workflow.id, "someone-else")
    assert workflow.status == "COMPLETED" and workflow.state.n == 3


async def test_run_to_completion_keeps_the_lease_across_steps_that_do_not_automate(
    sqlite_statements, root
):
    store, sent = sqlite_statements
    workflow = await _manual_builder(root).create_workflow("Manual3", persistence_provider=store)
    sent.clear()
    assert await workflow.run_to_completion() == "COMPLETED"
    verbs = [statement.split()[0] for statement in sent]
    # One session for the whole run: the lease once, and only the ending save frees it.
    assert verbs == ["UPDATE"] + ["BEGIN", "UPDATE", "INSERT", "COMMIT"] * 3, sent
    releasing = [i for i, s in enumerate(sent) if "owner = CASE WHEN owner" in s]
    assert releasing == [len(sent) - 3], sent


async def test_a_save_after_the_last_one_of_a_call_takes_the_lease_back(store, root):
    workflow = await _manual_builder(root).create_workflow("Manual3", persistence_provider=store)
    other = await _manual_builder(root).load_workflow(workflow.id, persistence_provider=store)
    async with hold(workflow) as session:
        assert session is not None
        session.single_call = True
        workflow.last_save_of_call()
        await workflow.save()  # on SQL: frees the lease in the save
        await workflow.save()  # a further save holds it again first
        with pytest.raises(LeaseHeld):
            await other.next_step()
    assert not session.signal.lost
    taken = await leases(store).acquire(workflow.id, "someone-else", 10.0)
    assert taken.took_over_from is None


async def postgres_statements(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[], Awaitable[Any]]
) -> list[str]:
    """The statements psycopg's cursors sent while ``call()`` ran."""
    import psycopg

    sent: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def traced(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", traced)
    try:
        await call()
    finally:
        monkeypatch.setattr(psycopg.AsyncCursor, "execute", execute)
    return sent


@pytest.mark.postgres
async def test_postgres_each_save_is_one_statement_and_the_lease_costs_one(
    postgres_url, builder, monkeypatch
):

    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(postgres_url)
    await store.initialize()
    try:
        workflow = await builder.create_workflow("Chain5", persistence_provider=store)
        sent = await postgres_statements(monkeypatch, workflow.next_step)
        assert workflow.status == "COMPLETED"
        assert len(sent) == 1 + CHAIN_STEPS, sent  # the lease, then one statement per step
        assert sent[0].startswith("UPDATE workflows SET owner = ")
        saves = sent[1:]
        assert all(s.startswith("WITH w AS (UPDATE workflows SET state = ") for s in saves)
        assert all("INSERT INTO execution_log" in s for s in saves)
        assert "owner = CASE WHEN owner" in saves[-1]
        assert await lease_row(store, workflow.id) == (None, None)
        assert not any("synchronous_commit" in s for s in sent)  # every commit is durable
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_a_step_by_step_call_is_two_statements(postgres_url, root, monkeypatch):

    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(postgres_url)
    await store.initialize()
    try:
        workflow = await _manual_builder(root).create_workflow(
            "Manual3", persistence_provider=store
        )
        sent = await postgres_statements(monkeypatch, workflow.next_step)
        assert workflow.status == "ACTIVE" and workflow.current_step == 1
        assert len(sent) == 2, sent  # the lease, then the save that also frees it
        assert sent[0].startswith("UPDATE workflows SET owner = ")
        assert "owner = CASE WHEN owner" in sent[1]
        assert await lease_row(store, workflow.id) == (None, None)
    finally:
        await store.close()


# -- PostgreSQL: the connection kept out of the pool -----------------------------------------------
@pytest.mark.postgres
@pytest.mark.parametrize("max_size", [1, 3])
async def test_postgres_concurrent_drivers_share_the_pool_beside_the_kept_connection(
    postgres_url, builder, max_size
):
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(postgres_url, min_size=1, max_size=max_size)
    await store.initialize()
    try:
        workflows = [
            await builder.create_workflow("Chain5", persistence_provider=store) for _ in range(6)
        ]
        await asyncio.gather(*(workflow.next_step() for workflow in workflows))
        assert [w.status for w in workflows] == ["COMPLETED"] * 6
        for workflow in workflows:
            assert (await store.load_workflow(workflow.id)).state["n"] == CHAIN_STEPS
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_a_broken_kept_connection_fails_one_call_and_is_replaced(
    postgres_url, builder
):
    from ruvon.errors import PersistenceError
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(postgres_url)
    await store.initialize()
    try:
        workflow = await builder.create_workflow("Chain5", persistence_provider=store)
        async with store._connection("find the kept connection") as conn:
            pid = conn.info.backend_pid
        import psycopg

        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as other:
            await other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(PersistenceError):
            await store.load_workflow(workflow.id)
        await workflow.next_step()  # on a new connection
        assert workflow.status == "COMPLETED"
        async with store._connection("find the kept connection") as conn:
            assert conn.info.backend_pid != pid
    finally:
        await store.close()


async def test_a_lease_statement_that_fails_is_a_persistence_error_naming_the_workflow(
    sql_store, builder
):
    from ruvon.errors import PersistenceError

    def alter(sql: str) -> None:  # on a connection of its own, committed
        if isinstance(sql_store, SQLitePersistenceProvider):
            with sqlite3.connect(sql_store.db_path) as conn:
                conn.execute(sql)
        else:
            import psycopg

            with psycopg.connect(sql_store.dsn, autocommit=True) as conn:
                conn.execute(sql.encode())

    workflow = await builder.create_workflow("Slow", persistence_provider=sql_store)
    alter("ALTER TABLE workflows RENAME COLUMN owner TO owner_gone")
    try:
        taking = f"could not take the lease of workflow '{workflow.id}'"
        with pytest.raises(PersistenceError, match=taking):
            await leases(sql_store).acquire(workflow.id, "driver-a", 10.0)
        releasing = f"could not release the lease of workflow '{workflow.id}'"
        with pytest.raises(PersistenceError, match=releasing):
            await leases(sql_store).release(workflow.id, "driver-a")
    finally:
        alter("ALTER TABLE workflows RENAME COLUMN owner_gone TO owner")
    assert (await leases(sql_store).acquire(workflow.id, "driver-a", 10.0)).took_over_from is None


async def test_a_driver_that_takes_over_after_the_freeing_save_keeps_its_lease(sql_store, root):
    # Between the save that frees the lease and the end of next_step() (observer hooks run
    # there), another driver may take the workflow. The first call must end without touching the
    # new holder's lease.
    from ruvon.providers.observer import WorkflowObserver

    store_leases = leases(sql_store)
    taken: list[int] = []

    class TakeOver(WorkflowObserver):
        async def on_step_executed(self, workflow_id: str, *args: Any, **kwargs: Any) -> None:
            taken.append((await store_leases.acquire(workflow_id, "other-driver", 30.0)).version)

    workflow = await _manual_builder(root).create_workflow(
        "Manual3", persistence_provider=sql_store, workflow_observer=TakeOver()
    )
    await workflow.next_step()
    assert workflow.state.n == 1 and workflow.session is None
    assert len(taken) == 1
    assert (await lease_row(sql_store, workflow.id))[0] == "other-driver"
    # The new holder drives on from the saved step.
    other = await _manual_builder(root).load_workflow(workflow.id, persistence_provider=sql_store)
    async with hold(other, owner="other-driver", acquired=True):
        await other.next_step()
    assert other.state.n == 2
