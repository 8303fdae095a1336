"""Commands of the runtime: ``start``, ``serve``, ``status`` and ``scan-zombies``.

Registered on the app by :mod:`ruvon.cli.main`. The runtime is imported inside the commands, so
``ruvon --help`` stays fast (the work itself is in :mod:`ruvon.cli.runtime_commands`).
"""

from typing import Annotated

import typer

from ruvon.cli.exits import finish, session_for
from ruvon.cli.options import (
    DEFAULT_DB,
    ConfigDir,
    Db,
    Executor,
    ExecutorKind,
    Json,
    LeaseSeconds,
    Workers,
)


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
    json_out: Json = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Save a new ACTIVE workflow for 'ruvon serve' workers (without running it); print its id."""
    session = session_for(db, config_dir)

    async def work() -> int:
        from ruvon.cli import runtime_commands
        from ruvon.cli.inputs import parse_json_object

        initial = parse_json_object(data, "--data")
        return await runtime_commands.start_stored(
            session, workflow_type, initial, idempotency_key, json_out
        )

    finish(work)


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
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            help="Also serve the HTTP API and dashboard on HOST:PORT (e.g. 127.0.0.1:8080).",
        ),
    ] = None,
    drive: Annotated[
        bool,
        typer.Option("--drive/--no-drive", help="With --http: also drive workflows (a worker)."),
    ] = True,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="RUVON_API_TOKEN",
            help="With --http: the token every API call and dashboard page needs.",
            show_default=False,
        ),
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option(
            "--retention",
            envvar="RUVON_RETENTION",
            help="Purge ended workflows hourly, e.g. COMPLETED=30d,FAILED=90d (default: never).",
        ),
    ] = None,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Claim runnable workflows and drive them until SIGTERM (then checkpoint, release, exit 0)."""
    session = session_for(db, config_dir)

    async def work() -> int:
        from ruvon.cli import runtime_commands
        from ruvon.cli.inputs import InputError
        from ruvon.errors import RuvonError
        from ruvon.runtime.retention import parse_retention
        from ruvon.runtime.serve import ServeOptions

        try:
            rules = parse_retention(retention) if retention else {}
        except RuvonError as exc:
            raise InputError(str(exc)) from None
        options = ServeOptions(
            concurrency=concurrency,
            types=tuple(types or ()),
            lease_seconds=lease_seconds,
            poll_seconds=poll,
            retention=rules,
        )
        return await runtime_commands.serve_store(
            session, options, executor.value, workers, http=http, drive=drive, token=token
        )

    finish(work)


def status(json_out: Json = False, lease_seconds: LeaseSeconds = 10.0, db: Db = DEFAULT_DB) -> None:
    """List the live 'ruvon serve' processes and the workflows they hold."""
    session = session_for(db)

    async def work() -> int:
        from ruvon.cli import runtime_commands

        return await runtime_commands.status_of(session, lease_seconds, json_out)

    finish(work)


def scan_zombies(
    fix: Annotated[
        bool, typer.Option("--fix", help="Mark them FAILED_WORKER_CRASH (no 'ruvon serve' runs).")
    ] = False,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
) -> None:
    """List unfinished workflows whose owner died (its lease expired)."""
    session = session_for(db)

    async def work() -> int:
        from ruvon.cli import runtime_commands

        return await runtime_commands.scan_zombies(session, fix, json_out)

    finish(work)
