"""Fixtures of the server tests: the project on SQLite and on PostgreSQL, served by uvicorn.

Without a reachable PostgreSQL server its tests are skipped, except with ``CI=true``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_kit import LiveServer, write_project

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


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
