"""Fixtures for the CLI tests: a copy of the tutorial project plus a fast package, and a runner.

Every test gets its own copy of ``examples/parallel_orders`` in ``tmp_path``. Next to the tutorial's
``order_processor`` and ``config`` it holds ``quick`` (functions that do not sleep) and
``quick_config`` (definitions using them), so most tests run in a fraction of a second; pass
``--config-dir quick_config`` to use them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "parallel_orders"
QUICK = "--config-dir", "quick_config"

QUICK_MODELS = """
from pydantic import BaseModel


class QuickState(BaseModel):
    name: str
    greeting: str | None = None
    a: int | None = None
    b: int | None = None
    total: int | None = None
    approved: bool | None = None
    size: str | None = None
"""

QUICK_STEPS = """
from pathlib import Path

from ruvon.models import WorkflowPauseDirective


def greet(state, context, **kwargs):
    print(f"hello from greet, {state.name}")
    return {"greeting": f"hi {state.name}"}


def add(state, context, **kwargs):
    return {"total": (state.a or 0) + (state.b or 0)}


def ask_approval(state, context, **kwargs):
    if context.validated_input is None:
        raise WorkflowPauseDirective(message="needs approval")
    return {"approved": bool(context.validated_input.get("approved"))}


def big(state, context, **kwargs):
    return {"size": "big"}


def small(state, context, **kwargs):
    return {"size": "small"}


def fail_unless_fixed(state, context, **kwargs):
    if not Path("fixed.marker").exists():
        raise RuntimeError("the [bold]marker[/bold] file fixed.marker is missing")
    return {"b": 20}
"""

QUICK_TASKS = """
from quick.steps import fail_unless_fixed


def task_a(state, context, **kwargs):
    print(f"task a runs for {state.name}")
    return {"a": 1}


def task_b(state, context, **kwargs):
    return {"b": 2}


flaky_task = fail_unless_fixed
"""

QUICK_YAML = {
    "quick.yaml": """
        workflow_type: Quick
        initial_state_model: quick.models.QuickState
        steps:
          - name: Greet
            function: quick.steps.greet
          - name: Fan
            type: PARALLEL
            automate_next: true
            tasks:
              - {name: task_a, function_path: quick.tasks.task_a}
              - {name: task_b, function_path: quick.tasks.task_b}
          - name: Sum
            function: quick.steps.add
    """,
    "flaky.yaml": """
        workflow_type: Flaky
        initial_state_model: quick.models.QuickState
        steps:
          - name: Greet
            function: quick.steps.greet
            automate_next: true
          - name: Fan
            type: PARALLEL
            automate_next: true
            tasks:
              - {name: task_a, function_path: quick.tasks.task_a}
              - {name: flaky_task, function_path: quick.tasks.flaky_task}
          - name: Sum
            function: quick.steps.add
    """,
    "approval.yaml": """
        workflow_type: Approval
        initial_state_model: quick.models.QuickState
        steps:
          - name: Greet
            function: quick.steps.greet
            automate_next: true
          - name: Approve
            function: quick.steps.ask_approval
            automate_next: true
          - name: Sum
            function: quick.steps.add
    """,
    "routed.yaml": """
        workflow_type: Routed
        initial_state_model: quick.models.QuickState
        steps:
          - name: Sum
            function: quick.steps.add
            routes:
              - {condition: "state.total > 2", target: Big}
              - {default: true, target: Small}
          - name: Small
            function: quick.steps.small
          - name: Big
            function: quick.steps.big
    """,
}

ORDER = {
    "order_id": "ORD-12345",
    "customer_id": "CUST-999",
    "items": [
        {"sku": "WIDGET-001", "quantity": 2, "price": 29.99},
        {"sku": "GADGET-042", "quantity": 1, "price": 149.99},
    ],
    "total_amount": 209.97,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the tutorial project with the fast ``quick`` package and ``quick_config``."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    (root / "quick").mkdir()
    (root / "quick" / "__init__.py").write_text("")
    for name, text in [("models", QUICK_MODELS), ("steps", QUICK_STEPS), ("tasks", QUICK_TASKS)]:
        (root / "quick" / f"{name}.py").write_text(text.lstrip())
    (root / "quick_config").mkdir()
    for name, text in QUICK_YAML.items():
        (root / "quick_config" / name).write_text(textwrap.dedent(text).lstrip())
    (root / "order.json").write_text(json.dumps(ORDER, indent=2))
    return root


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: no inherited ruvon settings, wide UTF-8 output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    env.update(COLUMNS="200", PYTHONIOENCODING="utf-8", NO_COLOR="1", TERM="dumb", **extra)
    return env


class Cli:
    """Runs the CLI (and Python snippets) in the project directory, as a user would."""

    quick = QUICK

    def __init__(self, project: Path) -> None:
        self.project = project

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``python -m ruvon.cli.main ARGS...``; extra keyword arguments go to the environment."""
        return self._run([sys.executable, "-m", "ruvon.cli.main", *args], env)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run a Python snippet in the project directory (cwd first on sys.path)."""
        return self._run([sys.executable, "-c", textwrap.dedent(code)], {})

    def _run(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.project,
            env=cli_env(**env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )

    @staticmethod
    def workflow_id(output: str) -> str:
        """The id printed in the summary of ``ruvon run`` / ``resume`` / ``retry``."""
        match = re.search(r"^id\s+(\S+)$", output, re.MULTILINE)
        assert match, f"no workflow id in output:\n{output}"
        return match.group(1)

    @staticmethod
    def state(output: str) -> dict[str, Any]:
        """The JSON state printed after the ``state`` heading."""
        _, _, text = output.partition("\nstate\n")
        assert text, f"no state in output:\n{output}"
        data, _ = json.JSONDecoder().raw_decode(text)
        assert isinstance(data, dict)
        return data

    def run_quick(self, workflow_type: str, data: dict[str, Any], *args: str) -> str:
        """``ruvon run`` a quick workflow that must complete; return its id."""
        done = self("run", workflow_type, "--data", json.dumps(data), *self.quick, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return self.workflow_id(done.stdout)


@pytest.fixture
def ruvon(project: Path) -> Cli:
    """The CLI runner for this test's project copy."""
    return Cli(project)
