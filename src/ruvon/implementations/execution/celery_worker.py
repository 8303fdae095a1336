"""The Celery side of ruvon: the app, the task that runs PARALLEL tasks, and the worker entry point.

A worker runs only functions (and state models) whose dotted path lies under a module prefix it was
started with::

    python -m ruvon.implementations.execution.celery_worker --allow order_processor

Messages are JSON (no pickle). One message carries a chunk of the tasks of one PARALLEL step and the
state as JSON; the worker rebuilds the state model, runs each task with :func:`ruvon.task_runner.run_task`
(exactly as the thread pool does) and returns the outcomes as JSON dicts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import logging
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ruvon.errors import ConfigurationError
from ruvon.loading import import_object
from ruvon.providers.execution import ParallelBatch, TaskCall, TaskOutcome
from ruvon.task_runner import private_state, run_task, task_context

try:
    from celery import Celery
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        "The Celery executor needs Celery and its Redis client, which are not installed. "
        "Install them with: pip install 'ruvon[celery]'."
    ) from exc

TASK_NAME = "ruvon.run_tasks"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "ruvon"
BROKER_ENV = "RUVON_CELERY_BROKER_URL"
BACKEND_ENV = "RUVON_CELERY_RESULT_BACKEND"
QUEUE_ENV = "RUVON_CELERY_QUEUE"
ALLOW_ENV = "RUVON_CELERY_ALLOW"

log = logging.getLogger("ruvon.celery")

_allowlist: tuple[str, ...] | None = None
#: Never suggested for --allow, wherever they are installed.
_NOT_USER = frozenset({"ruvon", "routilux", "builtins", *sys.builtin_module_names})


def broker_url(explicit: str | None = None) -> str:
    """The broker URL: the argument, else ``$RUVON_CELERY_BROKER_URL``, else local Redis DB 0."""
    return explicit or os.environ.get(BROKER_ENV) or DEFAULT_URL


def result_backend(explicit: str | None = None) -> str:
    """The result backend: the argument, else ``$RUVON_CELERY_RESULT_BACKEND``, else local Redis."""
    return explicit or os.environ.get(BACKEND_ENV) or DEFAULT_URL


def queue_name(explicit: str | None = None) -> str:
    """The queue of ruvon messages: the argument, else ``$RUVON_CELERY_QUEUE``, else ``ruvon``."""
    return explicit or os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE


def make_app(
    broker: str | None = None, backend: str | None = None, queue: str | None = None
) -> Any:
    """A Celery app configured for ruvon (JSON only, late acks, redelivery on worker loss).

    The executor and the worker build their app with this function, so both agree on the
    serializer, the queue and the task.

    Args:
        broker: Broker URL (see :func:`broker_url`).
        backend: Result backend URL (see :func:`result_backend`).
        queue: Queue name (see :func:`queue_name`).
    """
    app = Celery("ruvon", broker=broker_url(broker), backend=result_backend(backend))
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=queue_name(queue),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        redis_socket_connect_timeout=5,
    )
    app.task(
        name=TASK_NAME,
        acks_late=True,
        reject_on_worker_lost=True,
        track_started=True,
    )(run_chunk)
    return app


def allowlist() -> tuple[str, ...]:
    """The module prefixes this process may run: set by :func:`main`, else ``$RUVON_CELERY_ALLOW``."""
    if _allowlist is not None:
        return _allowlist
    raw = os.environ.get(ALLOW_ENV, "")
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def is_allowed(dotted_path: str, prefixes: Sequence[str]) -> bool:
    """Whether ``dotted_path`` is one of ``prefixes`` or lies under one (at a dot boundary)."""
    return any(dotted_path == p or dotted_path.startswith(p + ".") for p in prefixes)


def run_chunk(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the tasks of one message and return their outcomes as JSON-compatible dicts.

    Never raises for a task's sake: refusals, import errors and task errors become error outcomes.
    """
    tasks: list[dict[str, Any]] = message["tasks"]
    prefixes = allowlist()
    refusal = _refuse_model(message, prefixes)
    state: BaseModel | None = None
    if refusal is None:
        state, refusal = _rebuild_state(message)
    batch = ParallelBatch(
        workflow_id=message["workflow_id"],
        workflow_type=message["workflow_type"],
        step_name=message["step_name"],
        state_model_path=message["state_model_path"],
        state=state if state is not None else _NoState(),
        tasks=[],
        attempt=int(message.get("attempt", 1)),
        metadata=dict(message.get("metadata") or {}),
        share_state=bool(message.get("share_state", False)),
    )
    outcomes = []
    with _traced(message) as task_span:
        for task in tasks:
            with task_span(task["name"]) as span:
                if refusal is not None:
                    outcome = TaskOutcome(task["name"], error=refusal[0], error_type=refusal[1])
                else:
                    assert state is not None
                    outcome = _run_one(batch, state, task, prefixes)
                _end_span(span, outcome.error)
            outcomes.append(_jsonable(outcome))
    return outcomes


@contextlib.contextmanager
def _untraced_task(name: str) -> Iterator[None]:
    yield None


@contextlib.contextmanager
def _traced(message: dict[str, Any]) -> Iterator[Any]:
    """Spans joining the caller's trace when the message carries one and OpenTelemetry is here."""
    if not message.get("trace"):
        yield _untraced_task
        return
    try:
        from ruvon.observability import otel
    except ConfigurationError:  # the otel extra is not installed on this worker
        yield _untraced_task
        return
    otel.configure_from_env()
    with otel.worker_spans(message) as task_span:
        yield task_span


def _end_span(span: Any, error: str | None) -> None:
    if span is not None:
        from ruvon.observability import otel

        otel.end_task_span(span, error)


class _NoState(BaseModel):
    """Stands in for a state that could not be rebuilt (no task runs on it)."""


def _run_one(
    batch: ParallelBatch, state: BaseModel, task: dict[str, Any], prefixes: Sequence[str]
) -> TaskOutcome:
    name, path = task["name"], task["function_path"]
    if not is_allowed(path, prefixes):
        log.warning(
            "Refused task '%s' of step '%s' (workflow %s): function '%s' is not allowlisted.",
            name,
            batch.step_name,
            batch.workflow_id,
            path,
        )
        return TaskOutcome(
            name, error=_not_allowed("function", path, name, prefixes), error_type="PermissionError"
        )
    try:
        func = import_object(path)
    except Exception as exc:
        return TaskOutcome(
            name,
            error=(
                f"Task '{name}': the function '{path}' cannot be imported on the Celery worker: "
                f"{exc}. Make its package importable on the worker (PYTHONPATH or cwd)."
            ),
            error_type="ImportError",
        )
    call = TaskCall(
        name, path, func, kwargs=task.get("kwargs"), item=task.get("item"), index=task.get("index")
    )
    task_state = state if batch.share_state else private_state(state)
    return run_task(func, task_state, task_context(batch, call), call.kwargs)


def _refuse_model(message: dict[str, Any], prefixes: Sequence[str]) -> tuple[str, str] | None:
    path = message["state_model_path"]
    if is_allowed(path, prefixes):
        return None
    log.warning(
        "Refused step '%s' (workflow %s): state model '%s' is not allowlisted.",
        message["step_name"],
        message["workflow_id"],
        path,
    )
    return _not_allowed("state model", path, message["step_name"], prefixes), "PermissionError"


def _rebuild_state(message: dict[str, Any]) -> tuple[BaseModel | None, tuple[str, str] | None]:
    path = message["state_model_path"]
    try:
        model = import_object(path)
        return model.model_validate(message["state"]), None
    except Exception as exc:
        return None, (
            f"The state model '{path}' of step '{message['step_name']}' cannot be rebuilt on the "
            f"Celery worker: {type(exc).__name__}: {exc}. Make its package importable on the "
            f"worker (PYTHONPATH or cwd) with the same version as the caller's.",
            type(exc).__name__,
        )


def _not_allowed(kind: str, path: str, owner: str, prefixes: Sequence[str]) -> str:
    return (
        f"The {kind} '{path}' (for '{owner}') is not allowed on this Celery worker: it runs only "
        f"code under {list(prefixes) or 'no module'}. {allow_hint(path)}"
    )


def allow_hint(path: str) -> str:
    """How to let a worker run ``path``: allow its top-level package, if that is the user's own.

    A standard-library or installed third-party package is never suggested: allowing ``os`` or
    ``subprocess`` would let anyone who can write to the broker run arbitrary commands.
    """
    top = path.split(".", 1)[0]
    if is_user_package(top):
        return f"Start the worker with --allow {top} (or add '{top}' to {ALLOW_ENV})."
    return (
        f"'{top}' is not a package of your own (it is part of Python or an installed library), "
        f"and no worker should allow it: point the step at a function of your own package, and "
        f"start the worker with --allow <your package>."
    )


def is_user_package(top: str) -> bool:
    """Whether the top-level module ``top`` is neither the standard library nor installed under
    site-packages (a module not importable here counts as the user's: only its name is known)."""
    if top in _NOT_USER or top in sys.stdlib_module_names or not top.isidentifier():
        return False
    try:
        spec = importlib.util.find_spec(top)  # looks the module up; runs none of its code
    except (ImportError, ValueError):
        return True
    origin = (spec.origin or "") if spec is not None else ""
    locations = spec.submodule_search_locations if spec is not None else None
    paths = [origin, *(locations or [])]
    return not any(
        part in ("site-packages", "dist-packages") for p in paths for part in Path(p).parts
    )


def _jsonable(outcome: TaskOutcome) -> dict[str, Any]:
    data = dataclasses.asdict(outcome)
    try:
        data["result"] = to_jsonable_python(outcome.result)
    except Exception as exc:
        data.update(
            result=None,
            error=(
                f"Task '{outcome.task_name}' returned a value that cannot be sent as JSON from a "
                f"Celery worker: {exc}. Return JSON-compatible values (str, numbers, lists, dicts)."
            ),
            error_type="TypeError",
        )
    return data


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ruvon worker",
        description="Run a Celery worker for ruvon PARALLEL tasks.",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PREFIX",
        help=f"module prefix whose functions may run here (repeatable; also ${ALLOW_ENV}, "
        "comma-separated)",
    )
    parser.add_argument("--broker", help=f"broker URL (default ${BROKER_ENV} or {DEFAULT_URL})")
    parser.add_argument("--backend", help=f"result backend (default ${BACKEND_ENV} or broker's)")
    parser.add_argument("--queue", help=f"queue to consume (default ${QUEUE_ENV} or ruvon)")
    parser.add_argument("--concurrency", type=int, help="worker processes/threads (default: CPUs)")
    parser.add_argument(
        "--pool", default="prefork", choices=["prefork", "threads", "solo"], help="worker pool"
    )
    parser.add_argument("--loglevel", default="INFO", help="log level (default INFO)")
    parser.add_argument("--hostname", help="worker node name (default ruvon-<random>@%%h)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> None:
    """Start a worker in this process; returns when the worker stops.

    Options: ``--allow PREFIX`` (repeatable, required unless ``$RUVON_CELERY_ALLOW`` is set),
    ``--broker``, ``--backend``, ``--queue``, ``--concurrency``, ``--pool``
    (prefork/threads/solo), ``--loglevel``, ``--hostname``.

    Args:
        argv: Command line arguments without the program name (default ``sys.argv[1:]``).
    """
    global _allowlist
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    env_prefixes = [p.strip() for p in os.environ.get(ALLOW_ENV, "").split(",") if p.strip()]
    prefixes = tuple(dict.fromkeys([*args.allow, *env_prefixes]))
    if not prefixes:
        raise SystemExit(
            "ruvon worker: no --allow PREFIX given, so this worker would refuse every task. "
            "Name the packages of your task functions, e.g. --allow order_processor "
            f"(or set {ALLOW_ENV}=order_processor)."
        )
    _allowlist = prefixes
    os.environ[ALLOW_ENV] = ",".join(prefixes)  # for pool processes that do not fork
    app = make_app(args.broker, args.backend, args.queue)
    worker_argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--pool={args.pool}",
        f"--queues={queue_name(args.queue)}",
        f"--hostname={args.hostname or f'ruvon-{uuid.uuid4().hex[:8]}@%h'}",
    ]
    if args.concurrency:
        worker_argv.append(f"--concurrency={args.concurrency}")
    log.info("ruvon worker allows %s", ", ".join(prefixes))
    app.worker_main(worker_argv)


if __name__ == "__main__":
    main()
