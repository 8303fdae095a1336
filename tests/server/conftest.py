"""Fixtures of the server tests: the project on SQLite and on PostgreSQL, served by uvicorn.

Without a reachable PostgreSQL server its tests are skipped, except with ``CI=true``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_kit import LiveServer, write_project

BASE_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped after the test."""
    try:
        import psycopg

        with psycopg.connect(BASE_URL, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_srv_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture
def project_root(tmp_path: Path) -> Iterator[Path]:
    """The test project, importable (``srvflows``) while the test runs."""
    root = write_project(tmp_path / "project")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))


@pytest.fixture(params=STORES)
def db(request: pytest.FixtureRequest, project_root: Path) -> str:
    """The store of the test: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(project_root / "ruvon.db")


@pytest.fixture
def server(project_root: Path, db: str) -> Iterator[LiveServer]:
    """The app with a serving worker, no token."""
    live = LiveServer(project_root, db).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def idle_server(project_root: Path, db: str) -> Iterator[LiveServer]:
    """The app alone (``--no-drive``): started workflows stay ACTIVE."""
    live = LiveServer(project_root, db, drive=False).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def token_server(project_root: Path) -> Iterator[LiveServer]:
    """The app without a worker, on SQLite, with the token ``s3cret-token``."""
    live = LiveServer(
        project_root, str(project_root / "ruvon.db"), token="s3cret-token", drive=False
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()
