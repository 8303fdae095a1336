"""Schedules in one process with a fake clock, on SQLite and PostgreSQL: validation, the catch-up
policies, exactly one workflow per tick when many workers race, a claim left by a dead worker."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from runtime_kit import write_project

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConfigurationError, ScheduleError, ScheduleNotFound, WorkflowNotFound
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime import schedules
from ruvon.runtime.schedules import add_schedule, list_schedules, remove_schedule, run_due

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
T0 = 1_800_000_000.0  # a whole minute (2027-01-15 08:00:00 UTC)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = write_project(tmp_path / "project")
    monkeypatch.syspath_prepend(str(made))
    monkeypatch.setenv("RT_STEP_LOG", str(made / "steps.log"))
    return made


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, root: Path) -> AsyncIterator[PersistenceProvider]:
    provider: PersistenceProvider
    if request.param == "sqlite":
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


async def started(store: PersistenceProvider) -> list[str]:
    return [r.id for r in await store.list_workflows()]


def test_cron_validation_names_the_field() -> None:
    with pytest.raises(ScheduleError, match="the hour field '25' is not valid"):
        schedules.parse_cron("0 25 * * *")
    with pytest.raises(ScheduleError, match="has 3 fields"):
        schedules.parse_cron("* * *")
    with pytest.raises(ScheduleError, match="time zone 'Mars/Base' is unknown"):
        schedules.parse_cron("* * * * *", "Mars/Base")
    with pytest.raises(ScheduleError, match="catch-up policy 'sometimes' is unknown"):
        schedules.check_policy("sometimes", 10, 60)
    assert schedules.parse_cron("*/10 * * * * *").seconds
    assert schedules.parse_cron("@hourly").next_after(T0) == T0 + 3600


def test_ticks_in_a_time_zone() -> None:
    cron = schedules.parse_cron("0 9 * * *", "Europe/Berlin")
    # 2027-01-15 08:00 UTC is 09:00 in Berlin (UTC+1 in winter): the tick is T0 itself.
    assert cron.due(T0 - 1, T0, 5) == [T0]
    assert cron.next_after(T0) == T0 + 86_400


async def test_add_list_remove_and_errors(store, builder) -> None:
    made = await add_schedule(
        store, "Chain5", "*/5 * * * *", {"n": 1}, name="five", builder=builder, now=T0 + 1
    )
    assert made.next_run_at == T0 + 300
    assert [s.name for s in await list_schedules(store)] == ["five"]
    with pytest.raises(ScheduleError, match="named 'five' exists already"):
        await add_schedule(store, "Chain5", "* * * * *", name="five", builder=builder)
    with pytest.raises(WorkflowNotFound, match="cannot start the workflow type 'Nope'"):
        await add_schedule(store, "Nope", "* * * * *", builder=builder)
    with pytest.raises(ScheduleError, match="field 'n'"):
        await add_schedule(store, "Chain5", "* * * * *", {"n": "many"}, builder=builder)
    replaced = await add_schedule(
        store, "Chain5", "0 * * * *", name="five", builder=builder, replace=True, now=T0 + 1
    )
    assert replaced.id == made.id and replaced.next_run_at == T0 + 3600
    assert (await remove_schedule(store, made.id)).name == "five"
    with pytest.raises(ScheduleNotFound, match="'five'"):
        await remove_schedule(store, "five")


async def test_memory_store_keeps_no_schedules(builder) -> None:
    with pytest.raises(ConfigurationError, match="cannot keep schedules"):
        await add_schedule(InMemoryPersistenceProvider(), "Chain5", "* * * * *")


async def test_one_workflow_per_tick_and_nothing_before_it(store, builder) -> None:
    await add_schedule(store, "Chain5", "* * * * *", {"n": 7}, name="m", now=T0)
    assert await run_due(builder, store, owner="w1", now=T0 + 59) == []
    fired = await run_due(builder, store, owner="w1", now=T0 + 60.2)
    assert [(f.tick, f.created) for f in fired] == [(T0 + 60, True)]
    assert await run_due(builder, store, owner="w2", now=T0 + 61) == []  # advanced
    record = await store.load_workflow(fired[0].workflow_id)
    assert record.workflow_type == "Chain5" and record.state["n"] == 7
    (item,) = await list_schedules(store)
    assert (item.runs, item.last_run_at, item.next_run_at) == (1, T0 + 60, T0 + 120)
    assert item.last_workflow_id == fired[0].workflow_id and item.claimed_by is None


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("coalesce", [T0 + 660]),
        ("all", [T0 + 420, T0 + 480, T0 + 540, T0 + 600, T0 + 660]),  # at most 5
        ("none", []),
    ],
)
async def test_catch_up_policies(store, builder, policy, expected) -> None:
    await add_schedule(
        store,
        "Chain5",
        "* * * * *",
        name="p",
        catch_up=policy,
        max_catch_up=5,
        grace_seconds=5,
        now=T0,
    )
    # Everything was down from T0 to T0 + 11 min 10 s: eleven ticks passed, the last 10 s ago.
    fired = await run_due(builder, store, owner="w", now=T0 + 670)
    assert [f.tick for f in fired] == expected
    assert len(await started(store)) == len(expected)
    (item,) = await list_schedules(store)
    assert item.next_run_at == T0 + 720


async def test_none_runs_a_tick_within_grace(store, builder) -> None:
    await add_schedule(store, "Chain5", "* * * * *", name="g", catch_up="none", now=T0)
    fired = await run_due(builder, store, owner="w", now=T0 + 61)  # one second late
    assert [f.tick for f in fired] == [T0 + 60]


async def test_racing_workers_start_each_tick_once(store, builder) -> None:
    await add_schedule(store, "Chain5", "* * * * * *", name="fast", now=T0)
    for second in range(1, 6):
        now = T0 + second + 0.5
        rounds = await asyncio.gather(
            *(run_due(builder, store, owner=f"w{i}", now=now) for i in range(4))
        )
        assert sum(len(r) for r in rounds) == 1, rounds
    assert len(await started(store)) == 5


async def test_a_dead_workers_claim_expires_and_the_key_prevents_a_second_start(
    store, builder
) -> None:
    made = await add_schedule(store, "Chain5", "* * * * *", name="d", now=T0)
    # A worker started the tick's workflow and died before advancing the schedule.
    from ruvon.runtime.start import start_workflow

    first = await start_workflow(
        builder,
        "Chain5",
        {},
        persistence_provider=store,
        idempotency_key=schedules.tick_key(made.id, T0 + 60),
    )
    claimed = await run_due(builder, store, owner="dead", now=T0 + 60, claim_seconds=30, limit=0)
    assert claimed == []
    fired = await run_due(builder, store, owner="alive", now=T0 + 61)
    assert [(f.workflow_id, f.created) for f in fired] == [(first.workflow_id, False)]
    assert await started(store) == [first.workflow_id]


async def test_a_live_claim_is_left_alone(store, builder) -> None:
    await add_schedule(store, "Chain5", "* * * * *", name="c", now=T0)
    dialect = schedules._dialect(store)
    async with dialect.statement("claim") as tx:
        await tx.count(
            "UPDATE ruvon_schedules SET claimed_by = 'other', claim_expires_at = %s",
            (T0 + 90,),
        )
    assert await run_due(builder, store, owner="w", now=T0 + 61) == []
    fired = await run_due(builder, store, owner="w", now=T0 + 91)  # the claim expired
    assert [f.tick for f in fired] == [T0 + 60]


async def test_a_schedule_of_a_vanished_type_is_skipped_not_stuck(store, builder, caplog) -> None:
    await add_schedule(store, "Gone", "* * * * *", name="v", now=T0)
    assert await run_due(builder, store, owner="w", now=T0 + 61) == []
    assert "could not start workflow type 'Gone'" in caplog.text
    (item,) = await list_schedules(store)
    assert item.next_run_at == T0 + 120 and item.claimed_by is None


async def test_schedule_loop_sleeps_until_due_and_stops(store, builder) -> None:
    now = [T0]
    stop = asyncio.Event()
    await add_schedule(store, "Chain5", "* * * * *", name="l", now=T0)
    loop = asyncio.create_task(
        schedules.schedule_loop(
            builder,
            store,
            owner="w",
            stopping=stop.is_set,
            bound=0.01,
            clock=lambda: now[0],
        )
    )
    await asyncio.sleep(0.05)
    assert await started(store) == []
    now[0] = T0 + 60
    for _ in range(200):
        if await started(store):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await loop
    assert len(await started(store)) == 1
    assert Counter(f.status for f in await store.list_workflows()) == {"ACTIVE": 1}
