"""Code changes under in-flight workflows: a WAITING_HUMAN workflow whose state model gained a
required field resumes after a migration; without one it is FAILED with a hint naming the field,
and ``ruvon validate --db`` reports it. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_kit import open_sql_store

from ruvon import state_migrations
from ruvon.builder import WorkflowBuilder
from ruvon.errors import WorkflowLoadError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.loading import import_object
from ruvon.models import WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

MODELS_V1 = """
from pydantic import BaseModel

class State(BaseModel):
    n: int = 0
    ok: bool | None = None
"""
MODELS_V2 = """
from pydantic import BaseModel

class State(BaseModel):
    n: int = 0
    ok: bool | None = None
    region: str
"""
STEPS = """
from ruvon.models import WorkflowPauseDirective

def work(state, context):
    return {"n": state.n + 1}

def ask(state, context):
    if context.validated_input is None:
        raise WorkflowPauseDirective(message="needs ok")
    return {"ok": bool(context.validated_input.get("ok"))}
"""
MIGRATIONS = """
def add_region(state):
    return {**state, "region": "eu"}

def broken(state):
    raise KeyError("n")

def two_args(state, other):
    return state
"""
DEFINITION = """
workflow_type: Review
workflow_version: "{version}"
initial_state_model: {pkg}.models.State
{migrations}
steps:
  - {{name: Step1, function: {pkg}.steps.work, automate_next: true}}
  - {{name: Ask, function: {pkg}.steps.ask, automate_next: true}}
  - {{name: Step3, function: {pkg}.steps.work}}
"""


class Code:
    """A project whose code and definitions the test changes between loads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = f"migpkg_{uuid.uuid4().hex[:8]}"
        self.config = root / "config"
        (root / self.pkg).mkdir(parents=True)
        self.config.mkdir()
        (root / self.pkg / "__init__.py").write_text("")
        (root / self.pkg / "steps.py").write_text(STEPS)
        (root / self.pkg / "migrations.py").write_text(MIGRATIONS)
        self.deploy(MODELS_V1, "1")

    def deploy(self, models: str, version: str, migrations: dict[str, Any] | None = None) -> None:
        """Write new code and a new definition, and forget the imported modules."""
        (self.root / self.pkg / "models.py").write_text(models)
        block = ""
        if migrations:
            block = "migrations: " + json.dumps(migrations).replace("PKG", self.pkg)
        text = DEFINITION.format(version=version, pkg=self.pkg, migrations=block)
        (self.config / "review.yaml").write_text(textwrap.dedent(text))
        for name in [m for m in sys.modules if m == self.pkg or m.startswith(self.pkg + ".")]:
            del sys.modules[name]
        import_object.cache_clear()  # a deployment restarts the process; here the cache goes

    def builder(self) -> WorkflowBuilder:
        return WorkflowBuilder(config_dir=self.config)

    def validate_db(self, db: str) -> subprocess.CompletedProcess[str]:
        return self.cli("validate", "--db", db, "--config-dir", str(self.config))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ruvon.cli.main", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "300", "NO_COLOR": "1"},
        )


@pytest.fixture
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Code]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    made = Code(tmp_path / "project")
    yield made
    made.deploy(MODELS_V1, "1")  # forget the modules


@pytest.fixture(params=KINDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[PersistenceProvider, str]]:
    provider, db = await open_sql_store(request.param, tmp_path, request)
    yield provider, db
    await provider.close()


async def waiting(code: Code, store: PersistenceProvider) -> str:
    """A Review workflow of version 1, WAITING_HUMAN at Ask."""
    workflow = await code.builder().create_workflow(
        "Review", persistence_provider=store, execution_provider=SyncExecutor()
    )
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.WAITING_HUMAN
    return workflow.id


async def load(code: Code, store: PersistenceProvider, workflow_id: str) -> Any:
    return await code.builder().load_workflow(
        workflow_id, persistence_provider=store, execution_provider=SyncExecutor()
    )


async def test_a_migration_lets_a_waiting_workflow_resume(code, store) -> None:
    provider, db = store
    workflow_id = await waiting(code, provider)
    code.deploy(MODELS_V2, "2", {"1": "PKG.migrations.add_region"})
    checked = code.validate_db(db)
    assert checked.returncode == 0, checked.stderr
    assert f"ok  {workflow_id}  (Review 1, WAITING_HUMAN, state migrates to 2)" in checked.stdout
    workflow = await load(code, provider, workflow_id)
    assert workflow.state.region == "eu" and workflow.workflow_version == "2"
    await workflow.next_step(user_input={"ok": True})
    assert workflow.status == WorkflowStatus.COMPLETED
    stored = await provider.load_workflow(workflow_id)
    assert stored.workflow_version == "2" and stored.state["region"] == "eu"
    assert stored.state["n"] == 2 and stored.state["ok"] is True


async def test_without_a_migration_the_workflow_is_failed_with_a_hint(code, store) -> None:
    provider, db = store
    workflow_id = await waiting(code, provider)
    code.deploy(MODELS_V2, "2")
    checked = code.validate_db(db)
    assert checked.returncode == 1
    assert "'region': Field required" in checked.stderr
    assert "1 in-flight workflows checked, 1 would not load" in checked.stderr
    assert (await provider.load_workflow(workflow_id)).status == "WAITING_HUMAN"  # only checked
    resumed = code.cli("resume", workflow_id, "--input", '{"ok": true}', "--db", db,
                       "--config-dir", str(code.config))  # fmt: skip
    assert resumed.returncode == 1 and "'region': Field required" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    with pytest.raises(WorkflowLoadError) as caught:  # FAILED: a load raises the same message
        await load(code, provider, workflow_id)
    message = str(caught.value)
    assert "'region': Field required" in message
    assert "add a migration for version 1" in message and "ruvon retry" in message
    stored = await provider.load_workflow(workflow_id)
    assert stored.status == "FAILED" and stored.engine["error"]["message"] == message
    assert (
        stored.engine["error"]["step"] == "Step3"
    )  # Ask paused (finished): the workflow waits at the next step
    # Fixed by a migration: retry brings it back to the human step.
    code.deploy(MODELS_V2, "2", {"1": "PKG.migrations.add_region"})
    workflow = await load(code, provider, workflow_id)
    await workflow.retry()
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.WAITING_HUMAN


@pytest.mark.parametrize(
    ("migration", "expected"),
    [
        ("PKG.migrations.missing", "'PKG.migrations.missing' of workflow type 'Review' cannot be"),
        ("PKG.migrations.broken", "'PKG.migrations.broken' from version 1 raised KeyError"),
        ("PKG.migrations.two_args", "cannot be called with one argument"),
    ],
)
async def test_a_bad_migration_function_is_named(code, store, migration, expected) -> None:
    provider, _ = store
    workflow_id = await waiting(code, provider)
    code.deploy(MODELS_V2, "2", {"1": migration})
    with pytest.raises(WorkflowLoadError, match=expected.replace("PKG", code.pkg)):
        await load(code, provider, workflow_id)
    assert (await provider.load_workflow(workflow_id)).status == "FAILED"


async def test_a_chain_of_migrations_and_the_decorator_registry(code, store) -> None:
    provider, _ = store
    workflow_id = await waiting(code, provider)
    seen: list[str] = []

    @state_migrations.migration("Review", from_version="2", to_version="3")
    def two_to_three(state: dict[str, Any]) -> dict[str, Any]:
        seen.append("2->3")
        return {**state, "region": state["region"].upper()}

    try:
        code.deploy(MODELS_V2, "3", {"1": {"function": "PKG.migrations.add_region", "to": "2"}})
        workflow = await load(code, provider, workflow_id)
    finally:
        state_migrations.unregister("Review", "2")
    assert (workflow.state.region, workflow.workflow_version, seen) == ("EU", "3", ["2->3"])


async def test_a_removed_step_function_fails_the_workflow_naming_it(code, store) -> None:
    provider, _ = store
    workflow_id = await waiting(code, provider)
    (code.root / code.pkg / "steps.py").write_text(STEPS.replace("def ask(", "def asked("))
    code.deploy(MODELS_V1, "1")
    with pytest.raises(WorkflowLoadError, match=rf"{code.pkg}\.steps\.ask"):
        await load(code, provider, workflow_id)
    assert (await provider.load_workflow(workflow_id)).status == "FAILED"


async def test_a_serving_worker_fails_an_unloadable_workflow_and_goes_on(code, store) -> None:
    from ruvon.runtime.leases import lease_store_for
    from ruvon.runtime.serve import ServeOptions, Worker

    provider, _ = store
    workflow_id = await waiting(code, provider)
    code.deploy(MODELS_V2, "2")
    leases = lease_store_for(provider)
    assert leases is not None
    await leases.deliver_input(workflow_id, {"ok": True})
    worker = Worker(
        code.builder(), provider, SyncExecutor(), ServeOptions(poll_seconds=0.05, schedules=False)
    )
    running = asyncio.create_task(worker.run())
    for _ in range(400):
        if (await provider.load_workflow(workflow_id)).status == "FAILED":
            break
        await asyncio.sleep(0.02)
    worker.stop()
    stats = await running
    stored = await provider.load_workflow(workflow_id)
    assert (
        stored.status == "FAILED"
        and "'region': Field required" in stored.engine["error"]["message"]
    )
    assert stats.errors == 1
    assert await leases.zombies(time.time() + 3600) == []  # the lease was released


async def test_a_model_change_without_a_version_bump_says_to_bump_it(code, store) -> None:
    provider, _ = store
    workflow_id = await waiting(code, provider)
    code.deploy(MODELS_V2, "1")
    with pytest.raises(WorkflowLoadError, match="raise workflow_version of Review above 1 and"):
        await load(code, provider, workflow_id)
