"""The ``ruvon`` command: parse the command line, run a command, map errors to exit codes.

Exit codes: 0 success, 1 the workflow failed or a file is invalid (or any other error), 2 a usage
error (bad option or ``--data``), 3 the workflow stopped to wait, 4 no such workflow (type or id).
"""

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from ruvon.cli import commands, events_cmds
from ruvon.cli.commands import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Session
from ruvon.cli.graph import mermaid_flowchart
from ruvon.cli.inputs import InputError, parse_json_object
from ruvon.cli.render import make_console, print_error
from ruvon.cli.store import DEFAULT_DB
from ruvon.cli.validate import validate_files
from ruvon.errors import RuvonError, WorkflowNotFound
from ruvon.models import WorkflowStatus

app = typer.Typer(
    name="ruvon",
    help="Validate, run and inspect ruvon workflows stored in SQLite (default ./ruvon.db) or "
    "PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_out = make_console()
_err = make_console(stderr=True)

Db = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="RUVON_DB",
        help="SQLite file, or a postgresql:// URL.",
        show_default=True,
    ),
]
ConfigDir = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory of workflow definitions (default: $RUVON_CONFIG_DIR, else ./config).",
        show_default=False,
    ),
]
WorkflowId = Annotated[str, typer.Argument(help="The workflow's id (see 'ruvon list').")]


class ExecutorKind(StrEnum):
    """Where PARALLEL tasks run."""

    sync = "sync"
    thread = "thread"
    celery = "celery"


Executor = Annotated[
    ExecutorKind,
    typer.Option(
        "--executor",
        help="sync: tasks one after another; thread: all at once; celery: on Celery workers "
        "(start them with 'ruvon worker').",
    ),
]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Threads for --executor thread.")]
LeaseWait = Annotated[
    float | None,
    typer.Option(
        "--wait",
        min=0,
        help="Seconds to wait for another driver's lease on the workflow (default: fail at once).",
    ),
]


class _OneLineFormatter(logging.Formatter):
    """Log records as ``warning: <first line>``; the traceback only with RUVON_TRACEBACK=1."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines() or [""]
        text = f"{record.levelname.lower()}: {lines[0]}"
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            text += f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            if os.environ.get("RUVON_TRACEBACK"):
                text += "\n" + self.formatException(record.exc_info)  # type: ignore[arg-type]
        return text


def _configure_logging() -> None:
    """Warnings and errors of ruvon (and libraries) as one line each on stderr, never a traceback."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # The connection pool warns on every reconnect attempt; the final error says it all.
    logging.getLogger("psycopg").setLevel(logging.ERROR)


@app.callback()
def _root() -> None:
    """Put the current directory on sys.path, so a project's packages import as when run there."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def _session(db: str, config_dir: Path | None) -> Session:
    return Session(db=db, config_dir=config_dir, out=_out, err=_err)


def _finish(work: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run ``work`` and exit with its code; an error becomes ``error: <message>`` on stderr."""
    raise typer.Exit(_exit_code(work))


def _exit_code(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(work())
    except InputError as exc:
        print_error(_err, str(exc))
        return EXIT_USAGE
    except WorkflowNotFound as exc:
        print_error(_err, str(exc))
        return EXIT_NOT_FOUND
    except RuvonError as exc:
        print_error(_err, str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print_error(_err, "interrupted. A stored workflow can be continued with 'ruvon resume ID'.")
        return 130
    except Exception as exc:
        if os.environ.get("RUVON_TRACEBACK"):
            raise
        print_error(
            _err,
            f"unexpected {type(exc).__name__}: {exc} (set RUVON_TRACEBACK=1 for the traceback).",
        )
        return EXIT_FAILED


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Workflow definition YAML files, or directories of them.", show_default=False
        ),
    ],
) -> None:
    """Check definition files: YAML, schema, state model and functions. Lists every problem."""
    reports = validate_files(files)
    for report in reports:
        if report.ok and report.loaded is not None:
            definition = report.loaded.definition
            _out.print(
                Text("ok  ", style="bold green")
                + Text(
                    f"{report.path}  ({definition.workflow_type}, {_count(len(definition.steps), 'step')})"
                )
            )
        for problem in report.problems:
            print_error(_err, problem)
    invalid = sum(not report.ok for report in reports)
    if invalid:
        _err.print(Text(f"{invalid} of {len(reports)} files invalid", style="red"))
    raise typer.Exit(EXIT_FAILED if invalid else EXIT_OK)


@app.command("run")
def run_workflow(
    workflow_type: Annotated[str, typer.Argument(help="The workflow_type to start.")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Initial state: JSON text, or @file.json."),
    ] = None,
    executor: Executor = ExecutorKind.thread,
    workers: Workers = 10,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Start a workflow and run it until it completes, fails or waits (exit 0, 1 or 3)."""
    session = _session(db, config_dir)

    async def work() -> int:
        initial = parse_json_object(data, "--data")
        provider = commands.make_executor(executor.value, workers)
        try:
            return await commands.run_new(session, workflow_type, initial, provider)
        finally:
            provider.close()

    _finish(work)


@app.command("list")
def list_(
    status: Annotated[
        WorkflowStatus | None,
        typer.Option("--status", "-s", case_sensitive=False, help="Only this status."),
    ] = None,
    workflow_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Only this workflow type.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    db: Db = DEFAULT_DB,
) -> None:
    """List stored workflows, newest first."""
    session = _session(db, None)
    status_value = status.value if status is not None else None
    _finish(lambda: commands.list_stored(session, status_value, workflow_type, limit))


@app.command()
def show(workflow_id: WorkflowId, db: Db = DEFAULT_DB) -> None:
    """Show a workflow's state, step history (with durations) and failures."""
    session = _session(db, None)
    _finish(lambda: commands.show_stored(session, workflow_id))


@app.command()
def resume(
    workflow_id: WorkflowId,
    user_input: Annotated[
        str | None,
        typer.Option("--input", help="Input for a WAITING_HUMAN step: JSON text, or @file.json."),
    ] = None,
    executor: Executor = ExecutorKind.thread,
    workers: Workers = 10,
    wait: LeaseWait = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Only deliver --input; a 'ruvon serve' worker runs the step.",
        ),
    ] = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Continue an ACTIVE (e.g. interrupted) or WAITING_HUMAN workflow and run it to the end."""
    if detach:
        from ruvon.cli import runtime_commands

        session = _session(db, config_dir)

        async def work() -> int:
            given = parse_json_object(user_input, "--input")
            return await runtime_commands.deliver_input(session, workflow_id, given)

        _finish(work)
    _continue(workflow_id, executor, workers, db, config_dir, user_input=user_input, wait=wait)


@app.command()
def retry(
    workflow_id: WorkflowId,
    executor: Executor = ExecutorKind.thread,
    workers: Workers = 10,
    wait: LeaseWait = None,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Re-run the failed step of a FAILED workflow and run it to the end."""
    _continue(workflow_id, executor, workers, db, config_dir, retry=True, wait=wait)


def _continue(
    workflow_id: str,
    executor: ExecutorKind,
    workers: int,
    db: str,
    config_dir: Path | None,
    *,
    retry: bool = False,
    user_input: str | None = None,
    wait: float | None = None,
) -> None:
    session = _session(db, config_dir)

    async def work() -> int:
        given = None if user_input is None else parse_json_object(user_input, "--input")
        provider = commands.make_executor(executor.value, workers)
        try:
            return await commands.continue_stored(
                session, workflow_id, provider, retry=retry, user_input=given, wait=wait
            )
        finally:
            provider.close()

    _finish(work)


@app.command()
def cancel(workflow_id: WorkflowId, db: Db = DEFAULT_DB, config_dir: ConfigDir = None) -> None:
    """Cancel an unfinished workflow at once; a driver running it stops within one heartbeat."""
    from ruvon.cli import runtime_commands

    session = _session(db, config_dir)
    _finish(lambda: runtime_commands.cancel_stored(session, workflow_id))


@app.command()
def graph(
    workflow_type: Annotated[str, typer.Argument(help="The workflow_type to draw.")],
    config_dir: ConfigDir = None,
) -> None:
    """Print the workflow's steps as a Mermaid flowchart (paste into any Mermaid viewer)."""
    session = _session(DEFAULT_DB, config_dir)

    async def work() -> int:
        definition = session.builder().get_definition(workflow_type).definition
        sys.stdout.write(mermaid_flowchart(definition))
        return EXIT_OK

    _finish(work)


@app.command()
def worker(
    allow: Annotated[
        list[str],
        typer.Option(
            "--allow",
            help="Module prefix whose functions and state models this worker may run (repeat it).",
        ),
    ],
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes or threads.")] = 2,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads or solo.")] = "prefork",
    queue: Annotated[str | None, typer.Option(help="Queue to consume (default 'ruvon').")] = None,
    broker: Annotated[str | None, typer.Option(help="Broker URL (default local Redis).")] = None,
    backend: Annotated[str | None, typer.Option(help="Result backend URL.")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="Worker node name.")] = None,
) -> None:
    """Start a Celery worker that runs PARALLEL tasks of workflows (CeleryExecutor)."""
    from ruvon.implementations.execution import celery_worker

    argv = [arg for prefix in allow for arg in ("--allow", prefix)]
    argv += ["--concurrency", str(concurrency), "--pool", pool, "--loglevel", loglevel]
    options = (
        ("--queue", queue),
        ("--broker", broker),
        ("--backend", backend),
        ("--hostname", hostname),
    )
    for flag, value in options:
        if value:
            argv += [flag, value]
    celery_worker.main(argv)


# -- the runtime: start, serve, status, scan-zombies -------------------------------------------------
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for a machine.")]
LeaseSeconds = Annotated[
    float,
    typer.Option(
        "--lease-seconds",
        min=0.5,
        help="Lease length: a dead worker's workflows move on this long after it died.",
    ),
]


@app.command()
def start(
    workflow_type: Annotated[str, typer.Argument(help="The workflow_type to start.")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Initial state: JSON text, or @file.json."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Start at most one workflow per key: a used key prints the first workflow's id.",
        ),
    ] = None,
    as_json: AsJson = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Save a new ACTIVE workflow for 'ruvon serve' workers (without running it); print its id."""
    from ruvon.cli import runtime_commands

    session = _session(db, config_dir)

    async def work() -> int:
        initial = parse_json_object(data, "--data")
        return await runtime_commands.start_stored(
            session, workflow_type, initial, idempotency_key, as_json
        )

    _finish(work)


@app.command()
def serve(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Workflows driven at once.")
    ] = 4,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Serve only this workflow type (repeat it)."),
    ] = None,
    lease_seconds: LeaseSeconds = 10.0,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between looks for work.")
    ] = 0.5,
    executor: Executor = ExecutorKind.thread,
    workers: Workers = 10,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Claim runnable workflows and drive them until SIGTERM (then checkpoint, release, exit 0)."""
    from ruvon.cli import runtime_commands
    from ruvon.runtime.serve import ServeOptions

    session = _session(db, config_dir)
    options = ServeOptions(
        concurrency=concurrency,
        types=tuple(types or ()),
        lease_seconds=lease_seconds,
        poll_seconds=poll,
    )
    _finish(lambda: runtime_commands.serve_store(session, options, executor.value, workers))


@app.command()
def status(
    as_json: AsJson = False, lease_seconds: LeaseSeconds = 10.0, db: Db = DEFAULT_DB
) -> None:
    """List the live 'ruvon serve' processes and the workflows they hold."""
    from ruvon.cli import runtime_commands

    session = _session(db, None)
    _finish(lambda: runtime_commands.status_of(session, lease_seconds, as_json))


@app.command("scan-zombies")
def scan_zombies(
    fix: Annotated[
        bool, typer.Option("--fix", help="Mark them FAILED_WORKER_CRASH (no 'ruvon serve' runs).")
    ] = False,
    as_json: AsJson = False,
    db: Db = DEFAULT_DB,
) -> None:
    """List unfinished workflows whose owner died (its lease expired)."""
    from ruvon.cli import runtime_commands

    session = _session(db, None)
    _finish(lambda: runtime_commands.scan_zombies(session, fix, as_json))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


events_cmds.register(app)


def run() -> None:
    """The console-script entry point: ``ruvon``."""
    _configure_logging()
    app(prog_name="ruvon")


if __name__ == "__main__":
    run()
