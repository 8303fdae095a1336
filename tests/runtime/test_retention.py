"""Retention: ``purge`` deletes ended workflows and their rows in batches, ``ruvon purge`` and
``ruvon serve --retention`` on the CLI, and the ``ruvon schedule`` commands. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from runtime_kit import open_sql_store, query, sigterm, statuses, wait_until, write_project

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConfigurationError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.retention import (
    DEPENDENT_TABLES,
    apply_retention,
    parse_duration,
    parse_retention,
    purge,
    retention_loop,
)
from ruvon.runtime.start import start_workflow

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
DAY = 86_400.0


def test_durations_and_retention_rules() -> None:
    assert [parse_duration(t) for t in ("30d", "12h", "90m", "45s", "2w", "1.5h")] == [
        30 * DAY,
        12 * 3600,
        90 * 60,
        45,
        14 * DAY,
        5400,
    ]
    with pytest.raises(ConfigurationError, match=r"'30 days' is not a duration.*30d \(days\)"):
        parse_duration("30 days")
    assert parse_retention("completed=30d, FAILED=90d") == {
        "COMPLETED": 30 * DAY,
        "FAILED": 90 * DAY,
    }
    with pytest.raises(ConfigurationError, match="'ACTIVE' is not an ended status"):
        parse_retention("ACTIVE=1d")
    with pytest.raises(ConfigurationError, match="is not STATUS=DURATION"):
        parse_retention("COMPLETED")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = write_project(tmp_path / "project")
    monkeypatch.syspath_prepend(str(made))
    monkeypatch.setenv("RT_STEP_MS", "0")
    return made


@pytest.fixture(params=KINDS)
async def store(
    request: pytest.FixtureRequest, root: Path
) -> AsyncIterator[tuple[PersistenceProvider, str]]:
    provider, db = await open_sql_store(request.param, root, request)
    yield provider, db
    await provider.close()


async def make(builder: WorkflowBuilder, store: PersistenceProvider, key: str, end: str) -> str:
    """A keyed Chain5 workflow: COMPLETED, FAILED (by hand) or left ACTIVE."""
    started = await start_workflow(
        builder, "Chain5", {}, persistence_provider=store, idempotency_key=key
    )
    if end == "ACTIVE":
        return started.workflow_id
    workflow = await builder.load_workflow(
        started.workflow_id, persistence_provider=store, execution_provider=SyncExecutor()
    )
    await workflow.run_to_completion()
    if end == "FAILED":
        query_store = workflow.to_record()
        query_store.status = "FAILED"
        await store.save_workflow(query_store)
    return started.workflow_id


def rows_of(db: str, ids: list[str]) -> dict[str, int]:
    marks = ", ".join(["%s"] * len(ids))
    counts = {}
    for table, column in (*DEPENDENT_TABLES, ("workflows", "id")):
        sql = f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({marks})"
        counts[table] = int(query(db, sql, tuple(ids))[0][0])
    return counts


async def test_purge_deletes_old_ended_workflows_and_their_rows_in_batches(root, store) -> None:
    provider, db = store
    builder = WorkflowBuilder(config_dir=root / "config")
    done = [await make(builder, provider, f"done-{i}", "COMPLETED") for i in range(5)]
    failed = await make(builder, provider, "failed", "FAILED")
    active = await make(builder, provider, "active", "ACTIVE")
    for wid in done:  # Chain5 has no PARALLEL step: give each a task row by hand
        query(
            db,
            "INSERT INTO task_results (workflow_id, step_name, task_name, status, result, error, "
            "started_at, ended_at) VALUES (%s, 'S', 't', 'COMPLETED', NULL, NULL, 0, 0)",
            (wid,),
        )
        query(  # and a signal that never got consumed
            db,
            "INSERT INTO ruvon_signals (workflow_id, name, data, created_at) "
            "VALUES (%s, 'go', NULL, 0)",
            (wid,),
        )
    assert all(count > 0 for count in rows_of(db, done).values())

    later = time.time() + 31 * DAY
    assert (await purge(provider, ["COMPLETED"], 30 * DAY)).total == 0  # not old enough
    preview = await purge(provider, ["COMPLETED", "FAILED"], 30 * DAY, dry_run=True, now=later)
    assert preview.by_status == {"COMPLETED": 5, "FAILED": 1} and preview.dry_run
    assert len(statuses(db)) == 7
    result = await purge(provider, ["completed"], 30 * DAY, batch=2, now=later)
    assert result.by_status == {"COMPLETED": 5}
    assert rows_of(db, done) == dict.fromkeys([t for t, _ in DEPENDENT_TABLES] + ["workflows"], 0)
    assert set(statuses(db)) == {failed, active}
    # A purged key may start a new workflow.
    again = await start_workflow(
        builder, "Chain5", {}, persistence_provider=provider, idempotency_key="done-0"
    )
    assert again.created and again.workflow_id != done[0]
    with pytest.raises(ConfigurationError, match="'ACTIVE' is not an ended status"):
        await purge(provider, ["ACTIVE"], 0)


async def test_a_leased_ended_workflow_is_kept(root, store) -> None:
    provider, db = store
    builder = WorkflowBuilder(config_dir=root / "config")
    wid = await make(builder, provider, "leased", "COMPLETED")
    query(db, "UPDATE workflows SET owner = 'x', lease_expires_at = %s", (time.time() + 60,))
    assert (await purge(provider, ["COMPLETED"], 0, now=time.time() + 1)).total == 0
    assert wid in statuses(db)


async def test_retention_rules_and_loop(root, store) -> None:
    provider, db = store
    builder = WorkflowBuilder(config_dir=root / "config")
    await make(builder, provider, "a", "COMPLETED")
    failed = await make(builder, provider, "b", "FAILED")
    later = time.time() + 10 * DAY
    done = await apply_retention(provider, {"COMPLETED": 7 * DAY, "FAILED": 30 * DAY}, now=later)
    assert done.by_status == {"COMPLETED": 1, "FAILED": 0}
    assert set(statuses(db)) == {failed}
    stop = asyncio.Event()
    loop = asyncio.create_task(
        retention_loop(provider, {"FAILED": 0.0}, stopping=stop.is_set, every=0.01)
    )
    for _ in range(300):
        if not statuses(db):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await loop
    assert statuses(db) == {}


def test_cli_purge_schedule_commands_and_serve_retention(project) -> None:
    done = project.run("run", "Chain5")
    assert done.returncode == 0, done.stderr
    dry = project.run("purge", "--status", "COMPLETED", "--older-than", "0s", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"dry_run": True, "by_status": {"COMPLETED": 1}, "total": 1}
    bad = project.run("purge", "--status", "RUNNING", "--older-than", "1d")
    assert bad.returncode == 1 and "'RUNNING' is not an ended status" in bad.stderr

    added = project.run("schedule", "add", "Chain5", "--cron", "0 3 * * *", "--name", "nightly")
    assert added.returncode == 0, added.stderr
    assert "schedule nightly (" in added.stdout
    table = project.run("schedule", "list")
    assert table.returncode == 0 and "nightly" in table.stdout and "0 3 * * * (UTC)" in table.stdout
    listed = json.loads(project.run("schedule", "list", "--json").stdout)
    assert [(s["name"], s["cron"], s["catch_up"]) for s in listed] == [
        ("nightly", "0 3 * * *", "coalesce")
    ]
    wrong = project.run("schedule", "add", "Chain5", "--cron", "0 3 * *")
    assert wrong.returncode == 1 and "has 4 fields" in wrong.stderr
    unknown = project.run("schedule", "add", "Nope", "--cron", "* * * * *")
    assert unknown.returncode == 4 and "'Nope'" in unknown.stderr
    policy = project.run("schedule", "add", "Chain5", "--cron", "* * * * *", "--catch-up", "x")
    assert policy.returncode == 1 and "catch-up policy 'x' is unknown" in policy.stderr
    assert project.run("schedule", "remove", "nightly").returncode == 0
    gone = project.run("schedule", "remove", "nightly")
    assert gone.returncode == 1 and "No schedule named (or with id) 'nightly'" in gone.stderr
    assert "no schedules" in project.run("schedule", "list").stdout

    worker = project.serve("w", "--retention", "COMPLETED=0s", "--poll", "0.2")
    wait_until(lambda: not statuses(project.db), 60, "the serve retention to purge")
    wait_until(lambda: project.status(), 30, "the worker to register")
    assert sigterm(worker) == 0
    refused = project.run("serve", "--retention", "COMPLETED")
    assert refused.returncode == 2 and "is not STATUS=DURATION" in refused.stderr
