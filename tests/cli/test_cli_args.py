"""Argument-level checks in process (typer's CliRunner), and the store factory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruvon.cli.main import app
from ruvon.cli.store import describe_store, is_postgres_url, open_store
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

runner = CliRunner()


@pytest.fixture(autouse=True)
def _keep_sys_path(monkeypatch):
    """The CLI puts the current directory on sys.path; keep that out of the test process."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "run", "list", "show", "resume", "retry", "cancel", "graph"):
        assert command in result.output


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["run", "Quick", "--executor", "process"],
        ["run", "Quick", "--workers", "0"],
        ["list", "--status", "SNOOZING"],
        ["list", "--limit", "0"],
        ["show"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args):
    assert runner.invoke(app, args).exit_code == 2


@pytest.mark.parametrize(
    ("db", "postgres"),
    [
        ("ruvon.db", False),
        ("data/x.sqlite", False),
        ("postgresql://u:secret@db:5432/ruvon", True),
        ("postgres://db/ruvon", True),
    ],
)
def test_postgres_urls_are_recognised(db, postgres):
    assert is_postgres_url(db) is postgres


def test_store_description_hides_the_password():
    assert describe_store("postgresql://u:secret@db:5432/ruvon") == "postgresql://db:5432/ruvon"


def test_anything_else_is_an_sqlite_path(tmp_path):
    store = open_store(str(tmp_path / "x.db"))
    assert isinstance(store, SQLitePersistenceProvider)
    assert store.db_path == str(tmp_path / "x.db")


def test_installed_console_script(project):
    script = Path(sys.executable).parent / "ruvon"
    if not script.exists():
        found = shutil.which("ruvon")
        if found is None:
            pytest.skip("the ruvon console script is not installed")
        script = Path(found)
    done = subprocess.run(
        [str(script), "validate", "config/workflow.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ok  config/workflow.yaml" in done.stdout
