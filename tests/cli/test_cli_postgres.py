"""The CLI on PostgreSQL: ``--db postgresql://...`` and ``RUVON_DB``, in a schema of its own."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.postgres

BASE_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped after the test."""
    try:
        import psycopg

        with psycopg.connect(BASE_URL, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_cli_{uuid.uuid4().hex[:12]}"
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:
        message = (
            f"PostgreSQL is not reachable at '{BASE_URL}' ({exc}); set RUVON_TEST_POSTGRES_URL."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(BASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_run_list_show_retry_on_postgres(ruvon, postgres_url):
    done = ruvon("run", "Flaky", "--data", '{"name": "P"}', "--db", postgres_url, *ruvon.quick)
    assert done.returncode == 1, done.stdout + done.stderr
    workflow_id = ruvon.workflow_id(done.stdout)
    assert not (ruvon.project / "ruvon.db").exists()

    listed = ruvon("list", "--status", "FAILED", RUVON_DB=postgres_url)
    assert workflow_id in listed.stdout

    (ruvon.project / "fixed.marker").write_text("")
    retried = ruvon("retry", workflow_id, "--db", postgres_url)
    assert retried.returncode == 0, retried.stdout + retried.stderr

    shown = ruvon("show", workflow_id, RUVON_DB=postgres_url)
    assert re.search(r"^status +COMPLETED$", shown.stdout, re.MULTILINE)
    assert ruvon.state(shown.stdout)["total"] == 21


def test_db_metrics_and_logs_on_postgres(ruvon, postgres_url):
    import json

    status = ruvon("db", "status", "--db", postgres_url, "--json")
    assert status.returncode == 1  # an empty schema: ruvon never set it up
    assert json.loads(status.stdout)["schema_version"] == 0
    assert ruvon("db", "init", "--db", postgres_url).returncode == 0
    assert json.loads(ruvon("db", "status", "--db", postgres_url, "--json").stdout)["up_to_date"]

    workflow_id = ruvon.run_quick("Quick", {"name": "P"}, "--db", postgres_url)
    stats = json.loads(ruvon("db", "stats", "--db", postgres_url, "--json").stdout)
    assert stats["tables"]["workflows"] == 1 and stats["size_bytes"] > 0
    metrics = json.loads(ruvon("metrics", "--db", postgres_url, "--json").stdout)
    assert metrics["workflow_types"][0]["completed"] == 1
    logs = json.loads(ruvon("logs", workflow_id, "--db", postgres_url, "--json").stdout)
    assert [e["step"] for e in logs if e["event"] == "STEP_COMPLETED"] == ["Greet", "Fan", "Sum"]
