"""Fixtures of the runtime tests: a project on SQLite and on PostgreSQL (a schema of its own).

Without a reachable PostgreSQL server its tests are skipped, except with ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_kit import Project, write_project

STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


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
