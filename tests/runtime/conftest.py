"""Fixtures of the runtime tests: a project on SQLite and on PostgreSQL (a schema of its own).

Without a reachable PostgreSQL server its tests are skipped, except with ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_kit import Project, write_project

BASE_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped after the test."""
    try:
        import psycopg

        with psycopg.connect(BASE_URL, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_rt_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture(params=STORES)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """The test project on each store; its processes are killed at the end."""
    root = write_project(tmp_path / "project")
    if request.param == "postgres":
        db = request.getfixturevalue("postgres_url")
    else:
        db = str(root / "ruvon.db")
    made = Project(root, db)
    try:
        yield made
    finally:
        made.stop_all()


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Iterator[Project]:
    """The test project on SQLite only."""
    root = write_project(tmp_path / "project")
    made = Project(root, str(root / "ruvon.db"))
    try:
        yield made
    finally:
        made.stop_all()
