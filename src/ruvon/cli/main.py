"""The ``ruvon`` command: parse the command line, run a command, map errors to exit codes.

Exit codes: 0 success, 1 the workflow failed or a file is invalid (or any other error), 2 a usage
error (bad option or ``--data``), 3 the workflow stopped to wait, 4 no such workflow (type or id).

Only typer, rich and the option tables are imported here: the engine, pydantic models and the stores
are imported inside the commands, so ``ruvon --help`` starts fast.
"""

import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ruvon.cli import define_cmds, events_cmds, runtime_cmds, schedule_cmds, store_cmds
from ruvon.cli.exits import finish, out, session_for
from ruvon.cli.options import (
    DEFAULT_DB,
    ConfigDir,
    Db,
    Executor,
    ExecutorKind,
    Json,
    LeaseWait,
    Params,
    RecordedExecutor,
    Workers,
    WorkflowId,
)
from ruvon.models import WorkflowStatus

if TYPE_CHECKING:  # the real import is deferred to the commands (see exits.session_for)
    from ruvon.cli.commands import Session

app = typer.Typer(
    name="ruvon",
    help="Validate, run and inspect ruvon workflows stored in SQLite (default ./ruvon.db) or "
    "PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def _print_version(value: bool) -> None:
    if value:
        from ruvon import __version__

        out.print(f"ruvon {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the ruvon version and exit.",
        ),
    ] = False,
) -> None:
    """Put the current directory on sys.path, so a project's packages import as when run there."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


@app.command("run")
def run_workflow(
    workflow_type: Annotated[str, typer.Argument(help="The workflow_type to start.")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Initial state: JSON text, or @file.json."),
    ] = None,
    params: Params = None,
    executor: Executor = ExecutorKind.thread,
    workers: Workers = 10,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Start a workflow and run it until it completes, fails or waits (exit 0, 1 or 3)."""
    session = session_for(db, config_dir, json_out)

    async def work() -> int:
        from ruvon.cli import commands
        from ruvon.cli.inputs import parse_json_object, parse_params

        initial = parse_json_object(data, "--data")
        session.parameters = parse_params(params)
        provider = commands.make_executor(executor.value, workers)
        try:
            return await commands.run_new(session, workflow_type, initial, provider)
        finally:
            provider.close()

    finish(work)


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
    json_out: Json = False,
    db: Db = DEFAULT_DB,
) -> None:
    """List stored workflows, newest first."""
    session = session_for(db, None, json_out)
    status_value = status.value if status is not None else None

    async def work() -> int:
        from ruvon.cli import commands

        return await commands.list_stored(session, status_value, workflow_type, limit)

    finish(work)


@app.command()
def show(workflow_id: WorkflowId, json_out: Json = False, db: Db = DEFAULT_DB) -> None:
    """Show a workflow's state, step history (with durations) and failures."""
    session = session_for(db, None, json_out)

    async def work() -> int:
        from ruvon.cli import commands

        return await commands.show_stored(session, workflow_id)

    finish(work)


@app.command()
def resume(
    workflow_id: WorkflowId,
    user_input: Annotated[
        str | None,
        typer.Option("--input", help="Input for a WAITING_HUMAN step: JSON text, or @file.json."),
    ] = None,
    executor: RecordedExecutor = None,
    workers: Workers = 10,
    wait: LeaseWait = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Only deliver --input; a 'ruvon serve' worker runs the step.",
        ),
    ] = False,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Continue an ACTIVE (e.g. interrupted) or WAITING_HUMAN workflow and run it to the end."""
    session = session_for(db, config_dir, json_out)
    if detach:

        async def deliver() -> int:
            from ruvon.cli import runtime_commands
            from ruvon.cli.inputs import parse_json_object

            given = parse_json_object(user_input, "--input")
            return await runtime_commands.deliver_input(session, workflow_id, given)

        finish(deliver)
    _continue(session, workflow_id, executor, workers, user_input=user_input, wait=wait)


@app.command()
def retry(
    workflow_id: WorkflowId,
    executor: RecordedExecutor = None,
    workers: Workers = 10,
    wait: LeaseWait = None,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Re-run the failed step of a FAILED workflow and run it to the end."""
    session = session_for(db, config_dir, json_out)
    _continue(session, workflow_id, executor, workers, retry=True, wait=wait)


def _continue(
    session: "Session",
    workflow_id: str,
    executor: ExecutorKind | None,
    workers: int,
    *,
    retry: bool = False,
    user_input: str | None = None,
    wait: float | None = None,
) -> None:
    async def work() -> int:
        from ruvon.cli import commands
        from ruvon.cli.inputs import parse_json_object

        given = None if user_input is None else parse_json_object(user_input, "--input")
        kind = (
            executor.value if executor else await commands.recorded_executor(session, workflow_id)
        )
        provider = commands.make_executor(kind, workers)
        try:
            return await commands.continue_stored(
                session, workflow_id, provider, retry=retry, user_input=given, wait=wait
            )
        finally:
            provider.close()

    finish(work)


@app.command()
def cancel(workflow_id: WorkflowId, db: Db = DEFAULT_DB, config_dir: ConfigDir = None) -> None:
    """Cancel an unfinished workflow at once; a driver running it stops within one heartbeat."""
    session = session_for(db, config_dir)

    async def work() -> int:
        from ruvon.cli import runtime_commands

        return await runtime_commands.cancel_stored(session, workflow_id)

    finish(work)


app.command()(define_cmds.validate)
app.command()(define_cmds.graph)
app.command()(define_cmds.worker)
app.command()(store_cmds.logs)
app.command()(store_cmds.metrics)
app.add_typer(store_cmds.db_app, name="db")
app.command()(runtime_cmds.start)
app.command()(runtime_cmds.serve)
app.command()(runtime_cmds.status)
app.command("scan-zombies")(runtime_cmds.scan_zombies)
schedule_cmds.register(app)


events_cmds.register(app)


def run() -> None:
    """The console-script entry point: ``ruvon``."""
    from ruvon.excepthook import install_short_errors

    install_short_errors()
    _configure_logging()
    app(prog_name="ruvon")


if __name__ == "__main__":
    run()
