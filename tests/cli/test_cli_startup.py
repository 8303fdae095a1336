"""Start-up: ``import ruvon`` changes no interpreter setting; the CLI imports no engine for --help."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_import_ruvon_leaves_the_excepthook_alone():
    code = "import sys, ruvon, ruvon.builder; print(sys.excepthook is sys.__excepthook__)"
    assert _python(code) == "True"


def test_the_hook_arrives_with_the_first_ruvon_error():
    code = (
        "import sys\nfrom ruvon.errors import DefinitionError\n"
        "before = sys.excepthook is sys.__excepthook__\nDefinitionError('x')\n"
        "print(before, sys.excepthook.__module__)"
    )
    assert _python(code) == "True ruvon.excepthook"


def test_a_hook_installed_by_someone_else_is_kept():
    code = (
        "import sys\ndef mine(*a): pass\nsys.excepthook = mine\n"
        "from ruvon.errors import DefinitionError\nDefinitionError('x')\n"
        "print(sys.excepthook is mine)"
    )
    assert _python(code) == "True"


def test_cli_help_imports_neither_the_engine_nor_pydantic_nor_asyncio():
    code = (
        "import sys\nfrom ruvon.cli import main\n"
        "heavy = ['pydantic', 'ruvon.workflow', 'ruvon.builder', 'ruvon.definition', 'asyncio',"
        " 'celery', 'httpx', 'psycopg', 'sqlite3', 'jinja2', 'yaml']\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    assert _python(code) == "[]"


def test_version_prints_the_package_version():
    from ruvon import __version__

    done = subprocess.run(
        [sys.executable, "-m", "ruvon.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"ruvon {__version__}"
