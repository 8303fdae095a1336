"""``ruvon logs``, ``metrics``, ``db init|migrate|status|stats`` and the worker's defaults."""

from __future__ import annotations

import json
import os
import sqlite3
import sys

import pytest

from ruvon.cli.define_cmds import default_concurrency, definition_modules
from ruvon.implementations.persistence.schema import MIGRATIONS, SCHEMA_VERSION


def test_logs_filters_by_level_and_step(ruvon):
    done = ruvon("run", "Flaky", "--data", '{"name": "A"}', *ruvon.quick)
    workflow_id = ruvon.workflow_id(done.stdout)

    everything = json.loads(ruvon("logs", workflow_id, "--json").stdout)
    assert {entry["event"] for entry in everything} >= {"STEP_COMPLETED", "TASK_FAILED"}
    errors = json.loads(ruvon("logs", workflow_id, "--level", "error", "--json").stdout)
    assert errors and all(entry["level"] == "ERROR" for entry in errors)
    assert len(errors) < len(everything)
    greet = json.loads(ruvon("logs", workflow_id, "--step", "Greet", "--json").stdout)
    assert [entry["step"] for entry in greet] == ["Greet"]
    last = json.loads(ruvon("logs", workflow_id, "-n", "1", "--json").stdout)
    assert last == everything[-1:]

    table = ruvon("logs", workflow_id, "--level", "ERROR")
    assert table.returncode == 0
    assert "TASK_FAILED" in table.stdout and "STEP_COMPLETED" not in table.stdout


def test_logs_of_an_unknown_id_exits_4(ruvon):
    ruvon.run_quick("Quick", {"name": "A"})
    assert ruvon("logs", "no-such-id").returncode == 4


def test_metrics_counts_durations_and_failure_rates(ruvon):
    ruvon.run_quick("Quick", {"name": "A"})
    ruvon.run_quick("Quick", {"name": "B"})
    ruvon("run", "Flaky", "--data", '{"name": "C"}', *ruvon.quick)

    document = json.loads(ruvon("metrics", "--json").stdout)
    types = {item["workflow_type"]: item for item in document["workflow_types"]}
    assert types["Quick"]["total"] == 2 and types["Quick"]["completed"] == 2
    assert types["Quick"]["failure_rate"] == 0.0
    assert types["Quick"]["avg_duration"] >= 0
    assert types["Flaky"]["failed"] == 1 and types["Flaky"]["failure_rate"] == 1.0
    steps = {(s["workflow_type"], s["step"]): s for s in document["steps"]}
    assert steps[("Quick", "Sum")]["runs"] == 2
    assert steps[("Flaky", "Fan")]["failed"] == 1

    only = json.loads(ruvon("metrics", "--type", "Quick", "--json").stdout)
    assert [item["workflow_type"] for item in only["workflow_types"]] == ["Quick"]
    table = ruvon("metrics")
    assert table.returncode == 0 and "Flaky" in table.stdout and "100%" in table.stdout


def test_db_status_stats_and_migrate_dry_run_never_create_the_file(ruvon):
    for args in (["status"], ["stats"], ["migrate", "--dry-run"]):
        done = ruvon("db", *args, "--db", "fresh.db")
        assert not (ruvon.project / "fresh.db").exists(), args
        assert done.returncode in (0, 1), done.stderr
    status = json.loads(ruvon("db", "status", "--db", "fresh.db", "--json").stdout)
    assert status["exists"] is False and status["up_to_date"] is False
    assert [m["version"] for m in status["pending"]] == [m.version for m in MIGRATIONS]
    dry = ruvon("db", "migrate", "--dry-run", "--db", "fresh.db")
    assert f"would apply migration {SCHEMA_VERSION}:" in dry.stdout

    init = ruvon("db", "init", "--db", "fresh.db")
    assert init.returncode == 0, init.stderr
    assert f"schema version {SCHEMA_VERSION}" in init.stdout
    status = json.loads(ruvon("db", "status", "--db", "fresh.db", "--json").stdout)
    assert status["schema_version"] == SCHEMA_VERSION and status["up_to_date"] is True
    assert ruvon("db", "status", "--db", "fresh.db").returncode == 0

    ruvon.run_quick("Quick", {"name": "A"}, "--db", "fresh.db")
    stats = json.loads(ruvon("db", "stats", "--db", "fresh.db", "--json").stdout)
    assert stats["tables"]["workflows"] == 1
    assert stats["workflows_by_status"] == {"COMPLETED": 1}
    assert stats["size_bytes"] == (ruvon.project / "fresh.db").stat().st_size


def test_db_migrate_brings_an_old_store_up_to_date(ruvon):
    path = ruvon.project / "old.db"
    with sqlite3.connect(path) as conn:  # a store at schema version 1, as an older ruvon left it
        conn.execute(
            "CREATE TABLE ruvon_schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
        )
        for statement in MIGRATIONS[0].sqlite:
            conn.execute(statement)
        conn.execute("INSERT INTO ruvon_schema_migrations VALUES (1, 0)")
    conn.close()
    before = ruvon("db", "status", "--db", "old.db")
    assert before.returncode == 1 and "pending migration 2" in before.stdout
    dry = ruvon("db", "migrate", "--dry-run", "--db", "old.db")
    assert "would apply migration 2" in dry.stdout and "migration 1" not in dry.stdout
    assert (
        json.loads(ruvon("db", "status", "--db", "old.db", "--json").stdout)["schema_version"] == 1
    )
    done = ruvon("db", "migrate", "--db", "old.db")
    assert done.returncode == 0, done.stderr
    assert "applying migration 2" in done.stdout
    assert ruvon("db", "status", "--db", "old.db").returncode == 0


def test_worker_allows_exactly_the_modules_the_definitions_name(ruvon, monkeypatch):
    monkeypatch.chdir(ruvon.project)
    monkeypatch.setattr(sys, "path", [str(ruvon.project), *sys.path])
    modules = definition_modules(ruvon.project / "quick_config")
    assert modules == ["quick.models", "quick.steps", "quick.tasks"]


def test_worker_without_allow_and_without_definitions_says_what_to_do(ruvon, tmp_path):
    done = ruvon("worker", "--config-dir", str(tmp_path))
    assert done.returncode == 1
    assert "no --allow given" in done.stderr and "--allow PKG" in done.stderr


@pytest.mark.parametrize("cpus", [1, 2, 16])
def test_worker_default_concurrency_is_the_cpu_count_but_at_least_four(cpus, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert default_concurrency() == max(4, cpus)
