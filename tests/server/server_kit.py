"""Helpers of the server tests: a small project, and the app served by a real uvicorn in a thread.

The project (``srvflows`` package plus ``config/``) holds ``Demo``: ``Prepare``, a PARALLEL step
``Fan`` of three tasks that each sleep 50 ms, ``Approve`` (waits for input ``{"ok": bool}``), and
``Finish``, which fails once per workflow when the state says ``fail_once``.
"""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

MODELS = """
from pydantic import BaseModel


class DemoState(BaseModel):
    n: int = 0
    a: int | None = None
    b: int | None = None
    c: int | None = None
    ok: bool | None = None
    fail_once: bool = False
    done: bool = False
"""

STEPS = """
import time

from ruvon.models import WorkflowPauseDirective

_failed = set()


def prepare(state, context, **kwargs):
    return {"n": state.n + 1}


def _task(key):
    def task(state, context, **kwargs):
        time.sleep(0.05)
        return {key: 1}

    return task


task_a = _task("a")
task_b = _task("b")
task_c = _task("c")


def approve(state, context, **kwargs):
    if context.validated_input is None:
        raise WorkflowPauseDirective(message="needs ok")
    return {"ok": bool(context.validated_input.get("ok"))}


def finish(state, context, **kwargs):
    if state.fail_once and context.workflow_id not in _failed:
        _failed.add(context.workflow_id)
        raise RuntimeError("the shipping service said no (once)")
    return {"done": True}
"""

DEMO = """
workflow_type: Demo
initial_state_model: srvflows.models.DemoState
steps:
  - {name: Prepare, function: srvflows.steps.prepare, automate_next: true}
  - name: Fan
    type: PARALLEL
    automate_next: true
    tasks:
      - {name: task_a, function_path: srvflows.steps.task_a}
      - {name: task_b, function_path: srvflows.steps.task_b}
      - {name: task_c, function_path: srvflows.steps.task_c}
  - {name: Approve, function: srvflows.steps.approve, automate_next: true}
  - {name: Finish, function: srvflows.steps.finish}
"""


SIGNALLED = """
workflow_type: Signalled
initial_state_model: srvflows.models.DemoState
steps:
  - {name: Wait, type: WAIT_FOR_SIGNAL, signal: go, automate_next: true}
  - {name: Finish, function: srvflows.steps.finish}
"""


def write_project(root: Path) -> Path:
    """Create the test project in ``root``; return it."""
    (root / "srvflows").mkdir(parents=True)
    (root / "srvflows" / "__init__.py").write_text("")
    (root / "srvflows" / "models.py").write_text(MODELS.lstrip())
    (root / "srvflows" / "steps.py").write_text(STEPS.lstrip())
    (root / "config").mkdir()
    (root / "config" / "demo.yaml").write_text(textwrap.dedent(DEMO).lstrip())
    (root / "config" / "signalled.yaml").write_text(textwrap.dedent(SIGNALLED).lstrip())
    return root


class LiveServer:
    """The app on a real uvicorn (port 0: a free one) in a thread with its own event loop.

    Args:
        root: The project (its ``config/``).
        db: A SQLite file or a postgresql:// URL.
        token: The server's token, if any.
        drive: Also run a serving worker in the same loop.
    """

    def __init__(self, root: Path, db: str, *, token: str | None = None, drive: bool = True):
        self.root = root
        self.db = db
        self.token = token
        self.drive = drive
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"the test server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._stop is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the test server did not stop"

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        import uvicorn

        from ruvon.builder import WorkflowBuilder
        from ruvon.cli.store import open_store
        from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
        from ruvon.runtime.serve import ServeOptions, Worker
        from ruvon.server.app import create_app
        from ruvon.server.run import bind

        self._loop = asyncio.get_running_loop()
        store = open_store(self.db)
        await store.initialize()
        builder = WorkflowBuilder(config_dir=self.root / "config")
        app = create_app(store, builder, token=self.token, lease_seconds=2.0, poll_seconds=0.05)
        app.state.ruvon.stream_seconds = 20.0
        sock = bind("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        )
        executor = ThreadPoolExecutionProvider(max_workers=4)
        worker = (
            Worker(builder, store, executor, ServeOptions(lease_seconds=2.0, poll_seconds=0.05))
            if self.drive
            else None
        )

        def stop() -> None:
            server.should_exit = True
            if worker is not None:
                worker.stop()

        self._stop = stop
        tasks = [asyncio.create_task(server.serve(sockets=[sock]))]
        if worker is not None:
            tasks.append(asyncio.create_task(worker.run()))
        while not server.started:
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            sock.close()
            executor.close()
            await store.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def wait_for_status(
    client: httpx.Client, workflow_id: str, *statuses: str, within: float = 30
) -> dict[str, Any]:
    """Poll ``GET /api/workflows/{id}`` until its status is one of ``statuses``; return it."""
    deadline = time.monotonic() + within
    while True:
        found: dict[str, Any] = client.get(f"/api/workflows/{workflow_id}").json()
        if found.get("status") in statuses:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow {workflow_id} never reached {statuses}: {found}")
        time.sleep(0.05)
