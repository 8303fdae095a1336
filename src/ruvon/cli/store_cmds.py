"""Commands about the store: ``logs``, ``metrics`` and the ``db`` group.

Registered on the app by :mod:`ruvon.cli.main`. The stores are imported inside the commands.
"""

from enum import StrEnum
from typing import Annotated

import typer

from ruvon.cli.exits import finish
from ruvon.cli.options import DEFAULT_DB, Db, Json, WorkflowId


class Level(StrEnum):
    """Execution-log levels, lowest first."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def logs(
    workflow_id: WorkflowId,
    level: Annotated[
        Level,
        typer.Option(
            "--level",
            "-l",
            case_sensitive=False,
            help="Only entries at this level or above (ERROR: failures; WARNING: also retries "
            "and compensations).",
        ),
    ] = Level.DEBUG,
    step: Annotated[str | None, typer.Option("--step", help="Only entries of this step.")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the last N entries.")
    ] = None,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
) -> None:
    """Print a workflow's execution log: every step, task, retry and failure, oldest first."""

    async def work() -> int:
        from ruvon.cli import reports

        return await reports.print_logs(db, workflow_id, level.value, step, limit, json_out)

    finish(work)


def metrics(
    workflow_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Only this workflow type.")
    ] = None,
    json_out: Json = False,
    db: Db = DEFAULT_DB,
) -> None:
    """Counts, durations and failure rates per workflow type and step, from the store."""

    async def work() -> int:
        from ruvon.cli import reports

        return reports.print_metrics(db, workflow_type, json_out)

    finish(work)


db_app = typer.Typer(
    help="Create, migrate and inspect the store's schema.",
    no_args_is_help=True,
    add_completion=False,
)


@db_app.command("init")
def db_init(db: Db = DEFAULT_DB) -> None:
    """Create the store's tables (or bring them up to date); safe to run again."""

    async def work() -> int:
        from ruvon.cli import dbcmds

        return await dbcmds.init(db)

    finish(work)


@db_app.command("migrate")
def db_migrate(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the pending migrations; change nothing.")
    ] = False,
    db: Db = DEFAULT_DB,
) -> None:
    """Apply the pending schema migrations (all in one transaction)."""

    async def work() -> int:
        from ruvon.cli import dbcmds

        return await dbcmds.migrate(db, dry_run)

    finish(work)


@db_app.command("status")
def db_status(json_out: Json = False, db: Db = DEFAULT_DB) -> None:
    """Print the schema version of the store and the migrations it still needs (read-only)."""

    async def work() -> int:
        from ruvon.cli import dbcmds

        return dbcmds.status(db, json_out)

    finish(work)


@db_app.command("stats")
def db_stats(json_out: Json = False, db: Db = DEFAULT_DB) -> None:
    """Print the store's size, rows per table and workflows per status (read-only)."""

    async def work() -> int:
        from ruvon.cli import dbcmds

        return dbcmds.stats(db, json_out)

    finish(work)
