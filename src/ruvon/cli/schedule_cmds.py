"""``ruvon schedule add|list|remove`` and ``ruvon purge``: schedules and retention on the CLI."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ruvon.cli.exits import finish, session_for
from ruvon.cli.options import DEFAULT_DB, ConfigDir, Db
from ruvon.cli.options import Json as AsJson

schedule_app = typer.Typer(
    name="schedule",
    help="Start workflows on a cron schedule ('ruvon serve' workers start them, once per tick).",
    no_args_is_help=True,
)


def _when(timestamp: float | None) -> str:
    from ruvon.cli.render import format_time

    return "-" if timestamp is None else format_time(timestamp)


@schedule_app.command("add")
def add(
    workflow_type: Annotated[str, typer.Argument(help="The workflow_type to start on each tick.")],
    cron: Annotated[
        str,
        typer.Option(
            "--cron",
            help="Cron expression: 5 fields ('*/5 * * * *': every 5 minutes), 6 with seconds "
            "first ('*/10 * * * * *'), or @hourly/@daily/@weekly/@monthly/@yearly.",
        ),
    ],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Initial state: JSON text, or @file.json.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Unique name (default: TYPE-<id prefix>).")
    ] = None,
    catch_up: Annotated[
        str,
        typer.Option(
            "--catch-up",
            help="Ticks missed while no worker ran: coalesce (one run for the latest), all (one "
            "per tick, at most --max-catch-up), none (skip ticks older than --grace).",
        ),
    ] = "coalesce",
    max_catch_up: Annotated[
        int, typer.Option("--max-catch-up", help="Most runs one catch-up starts (policy all).")
    ] = 100,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds late a tick may start under policy none.")
    ] = 60.0,
    timezone: Annotated[
        str, typer.Option("--timezone", "--tz", help="IANA time zone of the expression.")
    ] = "UTC",
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a schedule of the same name.")
    ] = False,
    as_json: AsJson = False,
    db: Db = DEFAULT_DB,
    config_dir: ConfigDir = None,
) -> None:
    """Store a schedule; every 'ruvon serve' worker of the database runs it."""
    from ruvon.cli.inputs import parse_json_object
    from ruvon.cli.store import opened_store
    from ruvon.runtime.schedules import add_schedule

    session = session_for(db, config_dir)

    async def work() -> int:
        initial = parse_json_object(data, "--data")
        builder = session.builder()
        async with opened_store(db) as store:
            made = await add_schedule(
                store,
                workflow_type,
                cron,
                initial,
                name=name,
                timezone=timezone,
                catch_up=catch_up,
                max_catch_up=max_catch_up,
                grace_seconds=grace,
                builder=builder,
                replace=replace,
                created_by="cli",
            )
        if as_json:
            sys.stdout.write(json.dumps(made.as_json(), indent=2) + "\n")
        else:
            session.out.print(
                f"schedule {made.name} ({made.id}): {made.workflow_type} on '{made.cron}' "
                f"{made.timezone}; first run {_when(made.next_run_at)}"
            )
        return 0

    finish(work)


@schedule_app.command("list")
def list_(as_json: AsJson = False, db: Db = DEFAULT_DB) -> None:
    """List the stored schedules and when each runs next."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ruvon.cli.store import opened_store
    from ruvon.runtime.schedules import list_schedules

    session = session_for(db, None)

    async def work() -> int:
        async with opened_store(db, create=False) as store:
            found = await list_schedules(store)
        if as_json:
            sys.stdout.write(json.dumps([s.as_json() for s in found], indent=2) + "\n")
            return 0
        if not found:
            session.out.print(Text("no schedules ('ruvon schedule add' adds one)", style="dim"))
            return 0
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("name", "type", "cron", "catch-up", "next run", "last run", "runs", "id"):
            table.add_column(column)
        for item in found:
            table.add_row(
                Text(item.name),
                Text(item.workflow_type),
                Text(f"{item.cron} ({item.timezone})"),
                item.catch_up,
                _when(item.next_run_at),
                _when(item.last_run_at),
                str(item.runs),
                Text(item.id),
            )
        session.out.print(table)
        return 0

    finish(work)


@schedule_app.command("remove")
def remove(
    name_or_id: Annotated[str, typer.Argument(help="The schedule's name or id.")],
    db: Db = DEFAULT_DB,
) -> None:
    """Delete a schedule (the workflows it started are kept)."""
    from ruvon.cli.store import opened_store
    from ruvon.runtime.schedules import remove_schedule

    session = session_for(db, None)

    async def work() -> int:
        async with opened_store(db, create=False) as store:
            gone = await remove_schedule(store, name_or_id)
        session.out.print(f"schedule {gone.name} ({gone.id}) removed")
        return 0

    finish(work)


def purge(
    status: Annotated[
        list[str],
        typer.Option("--status", "-s", help="An ended status to purge (repeat it for more)."),
    ],
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Time since the workflow ended: 30d, 12h, 90m, 45s, 2w."),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    as_json: AsJson = False,
    db: Db = DEFAULT_DB,
) -> None:
    """Delete ended workflows older than a duration, with their tasks, logs and keys."""
    from ruvon.cli.store import opened_store
    from ruvon.runtime.retention import check_statuses, parse_duration
    from ruvon.runtime.retention import purge as purge_store

    session = session_for(db, None)

    async def work() -> int:
        seconds = parse_duration(older_than)
        statuses = check_statuses(status)
        async with opened_store(db, create=False) as store:
            done = await purge_store(store, statuses, seconds, dry_run=dry_run)
        if as_json:
            payload = {"dry_run": dry_run, "by_status": done.by_status, "total": done.total}
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return 0
        verb = "would delete" if dry_run else "deleted"
        parts = ", ".join(f"{count} {name}" for name, count in done.by_status.items())
        session.out.print(
            f"{verb} {done.total} workflows ({parts}) that ended before {_when(done.cutoff)}"
        )
        return 0

    finish(work)


def register(app: typer.Typer) -> None:
    """Add ``schedule`` (add, list, remove) and ``purge`` to the ``ruvon`` app."""
    app.add_typer(schedule_app, name="schedule")
    app.command("purge")(purge)
