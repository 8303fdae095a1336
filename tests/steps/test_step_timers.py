"""SLEEP, WAIT_FOR_SIGNAL, WorkflowSleepDirective, step timeouts and queues, with a fake clock."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import timers_kit
from steps_env import Env

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConfigurationError, DefinitionError, WorkflowNotFound, WorkflowStateError
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime import clock
from ruvon.runtime.events import send_signal
from ruvon.runtime.start import start_workflow
from ruvon.runtime.timer_store import timers_of

SLEEPS = """\
workflow_type: "Sleeps"
initial_state_model: "steps_kit.State"
steps:
  - name: "First"
    function: "steps_kit.visit"
    automate_next: true
  - name: "Nap"
    type: "SLEEP"
    seconds: "{{ state.n * 0 + 90 }}"
    automate_next: true
  - name: "Last"
    function: "steps_kit.visit"
"""

WAITS = """\
workflow_type: "Waits"
initial_state_model: "steps_kit.State"
steps:
  - name: "First"
    function: "steps_kit.visit"
    automate_next: true
  - name: "Approval"
    type: "WAIT_FOR_SIGNAL"
    signal: "approve"
    timeout_seconds: 60
    on_timeout: "TimedOut"
    automate_next: true
  - name: "Second"
    type: "WAIT_FOR_SIGNAL"
    signal: "approve"
    output_key: "details"
    automate_next: true
  - name: "Last"
    function: "steps_kit.visit"
    automate_next: true
    routes:
      - target: "End"
        default: true
  - name: "TimedOut"
    function: "steps_kit.visit"
    automate_next: true
  - name: "End"
    function: "steps_kit.visit"
"""


BASE_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    """An Env on the in-memory store, SQLite and PostgreSQL (a schema of its own)."""
    config = tmp_path / "config"
    config.mkdir()
    kind = str(request.param)
    schema = None
    store: PersistenceProvider
    if kind == "memory":
        store = InMemoryPersistenceProvider()
    elif kind == "sqlite":
        store = SQLitePersistenceProvider(tmp_path / "ruvon.db")
    else:
        try:
            import psycopg

            with psycopg.connect(BASE_URL, connect_timeout=3, autocommit=True) as conn:
                schema = f"ruvon_tm_{uuid.uuid4().hex[:12]}"
                conn.execute(f"CREATE SCHEMA {schema}")
        except Exception as exc:
            message = f"PostgreSQL is not reachable at '{BASE_URL}' ({exc})."
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        store = PostgresPersistenceProvider(f"{BASE_URL}?options=-csearch_path%3D{schema}")
    await store.initialize()
    try:
        yield Env(config, store, kind)
    finally:
        await store.close()
        if schema is not None:
            with psycopg.connect(BASE_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def fake() -> Iterator[clock.FakeClock]:
    timers_kit.SEEN.clear()
    made = clock.FakeClock(start=dt.datetime(2029, 6, 1, tzinfo=dt.UTC).timestamp())
    with clock.use(made):
        yield made


async def test_sleep_step_sleeps_until_due_then_goes_on(env: Env, fake: clock.FakeClock) -> None:
    workflow = await env.start(SLEEPS)
    _result, next_name = await workflow.next_step()
    assert workflow.status == WorkflowStatus.SLEEPING and next_name == "Last"
    assert workflow.wake_at == fake.value + 90
    stored = await env.store.load_workflow(workflow.id)
    assert stored.status == "SLEEPING" and stored.engine["wake_at"] == fake.value + 90
    assert await workflow.next_step() == (None, "Last"), "not due: a no-op"
    fake.advance(89.9)
    reloaded = await env.reload(workflow)
    assert await reloaded.next_step() == (None, "Last")
    assert reloaded.status == WorkflowStatus.SLEEPING
    fake.advance(0.2)
    await reloaded.next_step()
    assert reloaded.status == WorkflowStatus.COMPLETED
    assert reloaded.state.path == ["First", "Last"] and reloaded.wake_at is None


async def test_sleep_until_a_datetime_in_the_past_does_not_sleep(
    env: Env, fake: clock.FakeClock
) -> None:
    text = SLEEPS.replace('seconds: "{{ state.n * 0 + 90 }}"', 'until: "2020-01-01T00:00:00Z"')
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED


async def test_sleep_directive_returned_or_raised_sleeps_before_the_next_step(
    env: Env, fake: clock.FakeClock
) -> None:
    text = """\
    workflow_type: "Directive"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "A"
        function: "timers_kit.nap_returned"
        automate_next: true
      - name: "B"
        function: "timers_kit.nap_raised"
        automate_next: true
      - name: "C"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    await workflow.next_step()
    assert (workflow.status, workflow.current_step_name, workflow.state.n) == ("SLEEPING", "B", 1)
    assert workflow.wake_at == fake.value + 30
    fake.advance(30)
    await workflow.next_step()
    until = dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()
    assert (workflow.status, workflow.current_step_name, workflow.wake_at) == (
        "SLEEPING",
        "C",
        until,
    )
    assert workflow.state.note == "raised"
    fake.value = until
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED


async def test_sleep_step_checks(env: Env) -> None:
    text = SLEEPS.replace('seconds: "{{ state.n * 0 + 90 }}"', "")
    with pytest.raises(DefinitionError, match="needs exactly one of 'seconds' and 'until'"):
        await env.start(text)


async def test_bad_until_fails_the_step_naming_it(env: Env, fake: clock.FakeClock) -> None:
    text = SLEEPS.replace('seconds: "{{ state.n * 0 + 90 }}"', 'until: "next tuesday"')
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert "step 'Nap'" in (workflow.error or "") and "ISO 8601" in (workflow.error or "")


async def test_signal_sent_before_the_wait_is_kept_and_consumed_once_in_order(
    env: Env, fake: clock.FakeClock
) -> None:
    workflow = await env.start(WAITS)
    await workflow.signal("approve", {"note": "first"})
    await send_signal(env.store, workflow.id, "approve", {"kind": "second"})
    await workflow.next_step()  # First, then Approval takes "first", Second takes "second"
    assert workflow.state.note == "first"
    assert workflow.state.details == {"kind": "second"}
    assert workflow.state.path == ["First", "Last", "End"]
    assert workflow.status == WorkflowStatus.COMPLETED


async def test_signal_sent_after_the_wait_step_wakes_it(env: Env, fake: clock.FakeClock) -> None:
    workflow = await env.start(WAITS)
    await workflow.next_step()
    assert (workflow.status, workflow.current_step_name) == ("WAITING_SIGNAL", "Approval")
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.WAITING_SIGNAL, "no signal yet: still waiting"
    await workflow.signal("other", {"note": "ignored"})
    await workflow.signal("approve", {"note": "yes"})
    reloaded = await env.reload(workflow)
    await reloaded.next_step()
    assert reloaded.state.note == "yes"
    assert (reloaded.status, reloaded.current_step_name) == ("WAITING_SIGNAL", "Second")
    await reloaded.signal("approve")
    await reloaded.next_step()
    assert reloaded.status == WorkflowStatus.COMPLETED and reloaded.state.details == {}


async def test_signal_wait_times_out_to_its_route(env: Env, fake: clock.FakeClock) -> None:
    workflow = await env.start(WAITS)
    await workflow.next_step()
    assert workflow.wake_at == fake.value + 60
    fake.advance(59)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.WAITING_SIGNAL
    fake.advance(1)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.path == ["First", "TimedOut", "End"]


async def test_signal_wait_without_on_timeout_fails_naming_step_and_signal(
    env: Env, fake: clock.FakeClock
) -> None:
    text = """\
    workflow_type: "Strict"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Wait"
        type: "wait_for_signal"
        signal: "go"
        timeout_seconds: 5
    """
    workflow = await env.start(text)
    await workflow.next_step()
    fake.advance(5)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert "step 'Wait'" in (workflow.error or "") and "'go'" in (workflow.error or "")


async def test_signals_to_ended_or_unknown_workflows_fail_clearly(
    env: Env, fake: clock.FakeClock
) -> None:
    workflow = await env.start(SLEEPS.replace('seconds: "{{ state.n * 0 + 90 }}"', "seconds: 0"))
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    with pytest.raises(WorkflowStateError, match="is COMPLETED; the signal 'x' cannot"):
        await workflow.signal("x")
    with pytest.raises(WorkflowNotFound):
        await send_signal(env.store, "no-such-id", "x", {})
    with pytest.raises(ConfigurationError, match="signal name"):
        await send_signal(env.store, workflow.id, "", {})
    with pytest.raises(ConfigurationError, match="bytes of JSON"):
        await send_signal(env.store, workflow.id, "big", {"x": "y" * 300_000})


async def test_step_timeout_fails_the_step_and_tells_the_context(env: Env) -> None:
    text = """\
    workflow_type: "Slow"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Quick"
        function: "timers_kit.quick"
        timeout_seconds: 30
        automate_next: true
      - name: "Hang"
        function: "timers_kit.hangs"
        timeout_seconds: 0.05
    """
    workflow = await env.start(text)
    await workflow.next_step()
    assert 0 < timers_kit.SEEN["time_left"] <= 30
    assert timers_kit.SEEN["deadline"] is not None
    assert workflow.status == WorkflowStatus.FAILED and workflow.state.n == 1
    assert "step 'Hang'" in (workflow.error or "")
    assert "timeout_seconds (0.05 s)" in (workflow.error or "")


async def test_a_sync_step_that_ignores_its_timeout_is_failed_and_its_result_discarded(
    env: Env,
) -> None:
    text = """\
    workflow_type: "Stubborn"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Stubborn"
        function: "timers_kit.ignores_timeout"
        timeout_seconds: 0.05
    """
    env.executor = ThreadPoolExecutionProvider(max_workers=2)
    timers_kit.RELEASE.clear()
    try:
        workflow = await env.start(text)
        await workflow.next_step()
        assert workflow.status == WorkflowStatus.FAILED
        assert "timeout_seconds (0.05 s)" in (workflow.error or "")
    finally:
        timers_kit.RELEASE.set()
        env.executor.close()
    assert timers_kit.SEEN.get("thread_finished") is True
    stored = await env.store.load_workflow(workflow.id)
    assert stored.status == "FAILED" and stored.state["n"] == 0


async def test_max_active_queues_extra_starts_in_order(env: Env) -> None:
    text = """\
    workflow_type: "Limited"
    initial_state_model: "steps_kit.State"
    max_active: 2
    steps:
      - name: "Only"
        function: "steps_kit.visit"
    """
    env.write("limited.yaml", text)
    builder = WorkflowBuilder(config_dir=env.config)
    started = [
        (await start_workflow(builder, "Limited", {"n": i}, persistence_provider=env.store))
        for i in range(4)
    ]
    ids = [s.workflow_id for s in started]
    statuses = [(await env.store.load_workflow(i)).status for i in ids]
    assert statuses == ["QUEUED"] * 4
    timers = timers_of(env.store, "the test")
    assert await timers.admit() == ids[:2]
    assert await timers.admit() == [], "both slots are taken"
    first = await builder.load_workflow(ids[0], persistence_provider=env.store)
    await first.run_to_completion()
    assert await timers.admit() == [ids[2]]
    with pytest.raises(WorkflowStateError, match="QUEUED"):
        queued = await builder.load_workflow(ids[3], persistence_provider=env.store)
        await queued.next_step()


async def test_a_worker_in_this_process_wakes_sleepers_and_signalled_workflows(env: Env) -> None:
    import asyncio

    from ruvon.runtime.serve import ServeOptions, Worker

    text = """\
    workflow_type: "Served"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Nap"
        type: "SLEEP"
        seconds: 0.2
        automate_next: true
      - name: "Wait"
        type: "WAIT_FOR_SIGNAL"
        signal: "go"
        automate_next: true
      - name: "Done"
        function: "steps_kit.visit"
    """
    env.write("served.yaml", text)
    builder = WorkflowBuilder(config_dir=env.config)
    started = await start_workflow(builder, "Served", {}, persistence_provider=env.store)
    worker = Worker(builder, env.store, env.executor, ServeOptions(poll_seconds=5.0))
    serving = asyncio.create_task(worker.run())

    async def status() -> str:
        return (await env.store.load_workflow(started.workflow_id)).status

    try:
        for _ in range(400):  # the poll is 5 s: only the timer and the signal wake the worker
            if await status() == "WAITING_SIGNAL":
                break
            await asyncio.sleep(0.05)
        assert await status() == "WAITING_SIGNAL"
        await send_signal(env.store, started.workflow_id, "go", {"note": "went"})
        for _ in range(400):
            if await status() == "COMPLETED":
                break
            await asyncio.sleep(0.05)
        stored = await env.store.load_workflow(started.workflow_id)
        assert stored.status == "COMPLETED" and stored.state["note"] == "went"
    finally:
        worker.stop()
        await serving
