"""Leases in one process, on every store: the lease error, waiting, takeover and fencing, claims,
cancellation of a running PARALLEL step, idempotency keys and zombies."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from runtime_kit import leases, write_project

from ruvon.builder import WorkflowBuilder
from ruvon.errors import LeaseHeld, LeaseLost, VersionConflict, WorkflowCancelled
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.session import hold, keeper, request_cancel

KINDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = write_project(tmp_path / "project")
    monkeypatch.syspath_prepend(str(made))
    monkeypatch.setenv("RT_STEP_LOG", str(made / "steps.log"))
    monkeypatch.setenv("RT_SLOW", "0.01")
    return made


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, root: Path) -> AsyncIterator[PersistenceProvider]:
    provider: PersistenceProvider
    if request.param == "memory":
        provider = InMemoryPersistenceProvider()
    elif request.param == "sqlite":
        provider = SQLitePersistenceProvider(root / "ruvon.db")
    else:
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        provider = PostgresPersistenceProvider(request.getfixturevalue("postgres_url"))
    await provider.initialize()
    yield provider
    await provider.close()


@pytest.fixture
def builder(root: Path) -> WorkflowBuilder:
    return WorkflowBuilder(config_dir=root / "config")


def runs(root: Path) -> list[str]:
    log = root / "steps.log"
    return [line.split("\t")[1] for line in log.read_text().splitlines()] if log.exists() else []


async def test_second_driver_gets_the_lease_error_naming_owner_and_expiry(store, builder, root):
    first = await builder.create_workflow("Slow", persistence_provider=store)
    second = await builder.load_workflow(first.id, persistence_provider=store)
    async with hold(first) as session:
        assert session is not None
        with pytest.raises(LeaseHeld) as caught:
            await second.next_step()
        assert session.owner in str(caught.value) and "UTC" in str(caught.value)
        assert caught.value.owner == session.owner and caught.value.expires_at > time.time()
    assert runs(root) == []  # the loser ran nothing
    await second.run_to_completion()
    assert second.status == "COMPLETED" and runs(root) == ["Slow1", "Slow2", "Slow3"]


async def test_a_driver_that_asks_waits_for_the_lease(store, builder):
    first = await builder.create_workflow("Slow", persistence_provider=store)
    second = await builder.load_workflow(first.id, persistence_provider=store)
    released = asyncio.Event()

    async def hold_briefly() -> None:
        async with hold(first):
            await asyncio.sleep(0.3)
        released.set()

    holder = asyncio.create_task(hold_briefly())
    await asyncio.sleep(0.05)
    async with hold(second, wait=5):
        assert released.is_set()
        await second.run_to_completion()
    await holder
    assert second.status == "COMPLETED"


async def test_a_hung_driver_is_taken_over_and_fenced_out(store, builder, root, caplog):
    first = await builder.create_workflow("Slow", persistence_provider=store)
    second = await builder.load_workflow(first.id, persistence_provider=store)
    async with hold(first, ttl=0.3) as stalled:
        assert stalled is not None
        keeper().remove(stalled)  # it stops renewing, as a hung process would
        await asyncio.sleep(0.4)
        async with hold(second):  # the lease expired: taken over
            await second.next_step()
        with caplog.at_level(logging.ERROR, logger="ruvon.runtime"), pytest.raises(LeaseLost):
            await first.next_step()
    assert "LEASE_LOST" in caplog.text and stalled.owner in caplog.text
    stored = await store.load_workflow(first.id)
    assert stored.state["trail"] == ["Slow1", "Slow2", "Slow3"]
    completed = [e.step_name for e in await store.load_log(first.id) if e.event == "STEP_COMPLETED"]
    assert completed == ["Slow1", "Slow2", "Slow3"]  # the fenced copy saved nothing


async def test_a_stale_copy_cannot_take_the_lease(store, builder):
    first = await builder.create_workflow("Slow", persistence_provider=store)
    stale = await builder.load_workflow(first.id, persistence_provider=store)
    await first.next_step()
    with pytest.raises(VersionConflict):
        await stale.next_step()


async def test_claims_take_queued_and_expired_work_once(store, builder):
    store_leases = leases(store)
    driven = await builder.create_workflow("Slow", persistence_provider=store)
    queued = await builder.start_workflow("Slow", persistence_provider=store)
    other = await builder.start_workflow("Chain5", persistence_provider=store)
    assert await store_leases.claim("w1", 10, 5.0, ["Slow"]) == [queued.workflow_id]
    assert await store_leases.claim("w2", 10, 5.0, ["Slow"]) == []  # held, and driven is not queued
    await store_leases.acquire(driven.id, "ghost", 0.05)
    await asyncio.sleep(0.1)
    before = (await store.load_workflow(driven.id)).version
    claimed = await store_leases.claim("w2", 10, 5.0)
    assert set(claimed) == {driven.id, other.workflow_id}
    assert (await store.load_workflow(driven.id)).version == before + 1  # the ghost is fenced out


async def test_cancel_stops_a_running_parallel_step_and_saves_nothing_after(store, builder, root):
    executor = ThreadPoolExecutionProvider(max_workers=4)
    workflow = await builder.create_workflow(
        "Fan", persistence_provider=store, execution_provider=executor
    )
    running = asyncio.create_task(workflow.next_step())
    deadline = time.monotonic() + 10
    while runs(root).count("task_a") + runs(root).count("task_b") + runs(root).count("task_c") < 3:
        assert time.monotonic() < deadline, "the tasks did not start"
        await asyncio.sleep(0.02)
    await request_cancel(leases(store), workflow.id, "test")
    cancelled_version = (await store.load_workflow(workflow.id)).version
    with pytest.raises(WorkflowCancelled):
        await running
    executor.close()
    stored = await store.load_workflow(workflow.id)
    assert stored.status == "CANCELLED" and stored.version == cancelled_version
    assert await store.load_task_results(workflow.id, "Fan") == {}
    lines = (root / "steps.log").read_text().splitlines()
    assert sum(line.endswith("\tstopped") for line in lines) == 3
    assert workflow.status == "CANCELLED"
    last = (await store.load_log(workflow.id))[-1]
    assert last.event == "STATUS_CHANGED" and "CANCELLED" in (last.message or "")


async def test_idempotency_keys_return_the_first_workflow(store, builder, caplog):
    first = await builder.start_workflow(
        "Chain5", {"n": 1}, persistence_provider=store, idempotency_key="order-7"
    )
    again = await builder.start_workflow(
        "Chain5", {"n": 1}, persistence_provider=store, idempotency_key="order-7"
    )
    assert first.created and not again.created and again.workflow_id == first.workflow_id
    assert not again.data_differs
    with caplog.at_level(logging.WARNING, logger="ruvon.runtime"):
        other = await builder.start_workflow(
            "Chain5", {"n": 2}, persistence_provider=store, idempotency_key="order-7"
        )
    assert other.workflow_id == first.workflow_id and other.data_differs
    assert "order-7" in caplog.text and "other data" in caplog.text
    sdk = await builder.create_workflow(
        "Chain5", persistence_provider=store, initial_data={"n": 1}, idempotency_key="order-7"
    )
    assert sdk.id == first.workflow_id and sdk.state.n == 1
    fresh = await builder.start_workflow("Chain5", persistence_provider=store)
    assert fresh.created and fresh.workflow_id != first.workflow_id
    assert len(await store.list_workflows()) == 2


async def test_zombies_are_listed_and_fixed(store, builder):
    store_leases = leases(store)
    workflow = await builder.create_workflow("Slow", persistence_provider=store)
    finished = await builder.create_workflow("Slow", persistence_provider=store)
    await finished.run_to_completion()
    await store_leases.acquire(workflow.id, "ghost", 0.05)
    assert await store_leases.zombies(time.time()) == []  # still live
    await asyncio.sleep(0.1)
    [zombie] = await store_leases.zombies(time.time())
    assert (zombie.workflow_id, zombie.owner, zombie.status) == (workflow.id, "ghost", "ACTIVE")
    assert await store_leases.fail_zombies([workflow.id], time.time()) == [workflow.id]
    assert (await store.load_workflow(workflow.id)).status == "FAILED_WORKER_CRASH"
    assert await store_leases.zombies(time.time()) == []


def test_a_forked_child_has_an_owner_id_of_its_own() -> None:
    import os

    from ruvon.runtime.leases import process_owner, session_owner

    parent = process_owner()
    assert session_owner().startswith(parent + "/")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its owner id and leave at once
        try:
            os.write(write, process_owner().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child != parent and child.split(":")[1] == str(pid)
    assert process_owner() == parent


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_owner_not_yet_reaped_counts_as_dead() -> None:
    # A driver killed with SIGKILL stays a zombie until its parent reaps it; it runs no code, so
    # its lease may be taken over at once, as for a pid that is gone.
    import socket
    import subprocess

    from ruvon.runtime.leases import owner_is_dead

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = f"{socket.gethostname()}:{child.pid}:abc123/1"
    try:
        assert not owner_is_dead(owner)  # running
        child.kill()
        deadline = time.monotonic() + 10
        while b") Z" not in Path(f"/proc/{child.pid}/stat").read_bytes():
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert owner_is_dead(owner)  # killed, not reaped yet
    finally:
        child.kill()
        child.wait()
    assert owner_is_dead(owner)  # reaped: the pid is gone
    assert not owner_is_dead(f"{socket.gethostname()}:{os.getpid()}:abc123/1")  # this process
