"""Helpers of the runtime tests: a project with test workflows, CLI processes, store readers.

The project (``rtflows`` package plus ``config/``) holds:

``Chain5``: five STANDARD steps chained with ``automate_next``. Each step appends
``workflow id<TAB>step<TAB>pid<TAB>start`` to ``$RT_STEP_LOG``, sleeps ``$RT_STEP_MS`` (default
10-50 ms, varying by step), appends the same line ending in ``ran``, and returns ``n + 1`` and its
name appended to ``trail``.

``Slow``: three steps of ``$RT_SLOW`` seconds each (default 0.4), logged the same way.

``Fan``: a PARALLEL step of three tasks that log ``start``, then call ``context.heartbeat()`` every
20 ms for up to 20 s, log ``stopped`` when it raises, and return a key of their own.

``Human``: a step, a step that waits for input ``{"ok": bool}``, and a last step.

``Parent``: a step, a SUB_WORKFLOW step running a ``Human`` child (WAIT, into ``child``), a step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.leases import LeaseStore, lease_store_for

MODELS = """
from pydantic import BaseModel


class ChainState(BaseModel):
    n: int = 0
    trail: list[str] = []
    a: int | None = None
    b: int | None = None
    c: int | None = None
    ok: bool | None = None
    child: dict | None = None
"""

STEPS = """
import os
import time

from ruvon.errors import WorkflowCancelled
from ruvon.models import WorkflowPauseDirective


def _log(context, what):
    path = os.environ.get("RT_STEP_LOG")
    if path:
        line = f"{context.workflow_id}\\t{context.step_name}\\t{os.getpid()}\\t{what}\\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def work(state, context, **kwargs):
    _log(context, "start")
    index = int(context.step_name[-1])
    default = 10 + ((index * 7 + len(context.workflow_id)) % 5) * 10
    time.sleep(float(os.environ.get("RT_STEP_MS", default)) / 1000)
    _log(context, "ran")
    return {"n": state.n + 1, "trail": [*state.trail, context.step_name]}


def slow(state, context, **kwargs):
    time.sleep(float(os.environ.get("RT_SLOW", "0.4")))
    _log(context, "ran")
    return {"n": state.n + 1, "trail": [*state.trail, context.step_name]}


def _patient(key):
    def task(state, context, **kwargs):
        _log(context, "start")
        deadline = time.time() + 20
        try:
            while time.time() < deadline:
                context.heartbeat()
                time.sleep(0.02)
        except WorkflowCancelled:
            _log(context, "stopped")
            raise
        return {key: 1}

    return task


task_a = _patient("a")
task_b = _patient("b")
task_c = _patient("c")


def ask(state, context, **kwargs):
    if context.validated_input is None:
        raise WorkflowPauseDirective(message="needs ok")
    _log(context, "ran")
    return {"ok": bool(context.validated_input.get("ok"))}
"""

CHAIN = "\n".join(
    f"  - name: Step{i}\n    function: rtflows.steps.work\n    automate_next: {str(i < 5).lower()}"
    for i in range(1, 6)
)
DEFINITIONS = {
    "chain.yaml": f"workflow_type: Chain5\ninitial_state_model: rtflows.models.ChainState\n"
    f"steps:\n{CHAIN}\n",
    "slow.yaml": """
        workflow_type: Slow
        initial_state_model: rtflows.models.ChainState
        steps:
          - {name: Slow1, function: rtflows.steps.slow, automate_next: true}
          - {name: Slow2, function: rtflows.steps.slow, automate_next: true}
          - {name: Slow3, function: rtflows.steps.slow}
    """,
    "fan.yaml": """
        workflow_type: Fan
        initial_state_model: rtflows.models.ChainState
        steps:
          - name: Fan
            type: PARALLEL
            tasks:
              - {name: task_a, function_path: rtflows.steps.task_a}
              - {name: task_b, function_path: rtflows.steps.task_b}
              - {name: task_c, function_path: rtflows.steps.task_c}
    """,
    "parent.yaml": """
        workflow_type: Parent
        initial_state_model: rtflows.models.ChainState
        steps:
          - {name: Step1, function: rtflows.steps.work, automate_next: true}
          - {name: Kid, type: SUB_WORKFLOW, workflow_type: Human, output_key: child,
             automate_next: true}
          - {name: Step3, function: rtflows.steps.work}
    """,
    "human.yaml": """
        workflow_type: Human
        initial_state_model: rtflows.models.ChainState
        steps:
          - {name: Step1, function: rtflows.steps.work, automate_next: true}
          - {name: Ask, function: rtflows.steps.ask, automate_next: true}
          - {name: Step3, function: rtflows.steps.work}
    """,
}


def write_project(root: Path) -> Path:
    """Create the test project in ``root``; return it."""
    (root / "rtflows").mkdir(parents=True)
    (root / "rtflows" / "__init__.py").write_text("")
    (root / "rtflows" / "models.py").write_text(MODELS.lstrip())
    (root / "rtflows" / "steps.py").write_text(STEPS.lstrip())
    (root / "config").mkdir()
    for name, text in DEFINITIONS.items():
        (root / "config" / name).write_text(textwrap.dedent(text).lstrip())
    return root


@dataclass
class Project:
    """A test project and the store its CLI processes use.

    Attributes:
        root: The project directory (the processes' cwd).
        db: ``--db`` for the CLI: a SQLite file or a postgresql:// URL.
    """

    root: Path
    db: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def step_log(self) -> Path:
        """Where steps append their lines."""
        return self.root / "steps.log"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a CLI process (no inherited ruvon settings)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUVON_", "RT_"))}
        env.update(
            COLUMNS="200", NO_COLOR="1", TERM="dumb", RT_STEP_LOG=str(self.step_log), **extra
        )
        # The inherited path too, so that the processes run the ruvon under test (a checkout's src).
        inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
        env["PYTHONPATH"] = os.pathsep.join([str(self.root), *inherited])
        return env

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """``ruvon ARGS... --db DB`` to completion."""
        return subprocess.run(
            [sys.executable, "-m", "ruvon.cli.main", *args, "--db", self.db],
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start ``ruvon ARGS... --db DB`` in the background; output goes to ``<name>.out/.err``."""
        out = (self.root / f"{name}.out").open("wb")
        err = (self.root / f"{name}.err").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ruvon.cli.main", *args, "--db", self.db],
            cwd=self.root,
            env=self.env(**env),
            stdout=out,
            stderr=err,
        )
        out.close()
        err.close()
        self.procs.append(proc)
        return proc

    def serve(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Start a ``ruvon serve`` worker."""
        return self.spawn(name, "serve", *args, **env)

    def start(self, workflow_type: str, data: dict[str, Any] | None = None) -> str:
        """``ruvon start`` a workflow; return its id."""
        done = self.run("start", workflow_type, "--data", json.dumps(data or {}))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def status(self) -> list[dict[str, Any]]:
        """``ruvon status --json``: the live workers."""
        done = self.run("status", "--json")
        assert done.returncode == 0, done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found

    def start_many(self, workflow_type: str, count: int) -> list[str]:
        """Start ``count`` workflows with ``start_workflow()`` in one process; return their ids."""
        code = textwrap.dedent(
            f"""
            import asyncio
            from ruvon.builder import WorkflowBuilder
            from ruvon.cli.store import opened_store

            async def main():
                async with opened_store({self.db!r}) as store:
                    builder = WorkflowBuilder(config_dir="config")
                    for _ in range({count}):
                        started = await builder.start_workflow(
                            {workflow_type!r}, persistence_provider=store
                        )
                        print(started.workflow_id)

            asyncio.run(main())
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def stop_all(self) -> None:
        """Kill every process still running (test cleanup)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)

    def step_runs(self) -> list[tuple[str, str, int, str]]:
        """The lines steps logged: (workflow id, step, pid, what)."""
        if not self.step_log.exists():
            return []
        rows = []
        for line in self.step_log.read_text().splitlines():
            wid, step, pid, what = line.split("\t")
            rows.append((wid, step, int(pid), what))
        return rows


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sigterm(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """Send SIGTERM and return the exit code."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def duplicates(
    runs: list[tuple[str, str, int, str]], kind: str = "ran"
) -> dict[tuple[str, str], list[int]]:
    """Steps that logged ``kind`` more than once: (workflow, step) -> the pids that did."""
    counts = Counter((wid, step) for wid, step, _, what in runs if what == kind)
    pids: dict[tuple[str, str], list[int]] = {}
    for wid, step, pid, what in runs:
        if what == kind and counts[(wid, step)] > 1:
            pids.setdefault((wid, step), []).append(pid)
    return pids


def lease_lost_pids(root: Path) -> set[int]:
    """Pids of workers whose stderr logged LEASE_LOST (owner ids are ``host:pid:token``)."""
    found: set[int] = set()
    for err in root.glob("*.err"):
        for line in err.read_text(errors="replace").splitlines():
            if "LEASE_LOST" in line and " owner " in line:
                owner = line.split(" owner ", 1)[1].split()[0]
                found.add(int(owner.split(":")[1]))
    return found


def query(db: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the store directly (no ruvon code) and commit; ``%s`` placeholders."""
    if db.startswith(("postgresql://", "postgres://")):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            cursor = conn.execute(sql.encode(), params)
            return list(cursor.fetchall()) if cursor.description else []
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute(sql.replace("%s", "?"), params)
        rows = list(cursor.fetchall())
        conn.commit()
        return rows
    finally:
        conn.close()


def statuses(db: str) -> dict[str, str]:
    """Every workflow's status, by id."""
    return {str(wid): str(status) for wid, status in query(db, "SELECT id, status FROM workflows")}


def completed_steps(db: str) -> list[tuple[str, str]]:
    """(workflow id, step) of every STEP_COMPLETED log entry."""
    rows = query(
        db, "SELECT workflow_id, step_name FROM execution_log WHERE event = 'STEP_COMPLETED'"
    )
    return [(str(w), str(s)) for w, s in rows]


def leases(store: PersistenceProvider) -> LeaseStore:
    """The lease store of ``store`` (which must keep leases)."""
    found = lease_store_for(store)
    assert found is not None
    return found


async def open_sql_store(
    kind: str, directory: Path, request: Any
) -> tuple[PersistenceProvider, str]:
    """An initialized SQLite (in ``directory``) or PostgreSQL store, and its database URL."""
    from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

    provider: PersistenceProvider
    if kind == "sqlite":
        db = str(directory / "ruvon.db")
        provider = SQLitePersistenceProvider(db)
    else:
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        db = request.getfixturevalue("postgres_url")
        provider = PostgresPersistenceProvider(db)
    await provider.initialize()
    return provider, db
