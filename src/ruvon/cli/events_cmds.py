"""``ruvon signal``: send a named signal (with JSON data) to a stored workflow."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the event commands to ``app``."""
    app.command(name="signal")(signal)


def signal(
    workflow_id: Annotated[str, typer.Argument(help="The workflow's id (see 'ruvon list').")],
    name: Annotated[str, typer.Argument(help="The signal's name (a WAIT_FOR_SIGNAL step's).")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="The signal's data: a JSON object, or @file.json."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="RUVON_DB",
            help="Database: a SQLite path or a postgresql:// URL (default: ruvon.db).",
        ),
    ] = None,
) -> None:
    """Send the signal NAME to a workflow; a WAIT_FOR_SIGNAL step for it consumes it (one sent
    before the workflow reaches the step is kept)."""
    from rich.text import Text

    from ruvon.cli.commands import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE
    from ruvon.cli.inputs import InputError, parse_json_object
    from ruvon.cli.render import make_console, print_error
    from ruvon.cli.store import DEFAULT_DB, opened_store
    from ruvon.errors import RuvonError, WorkflowNotFound
    from ruvon.runtime.events import send_signal

    out, err = make_console(), make_console(stderr=True)

    async def work() -> int:
        given = parse_json_object(data, "--data") if data is not None else None
        async with opened_store(db or DEFAULT_DB, create=False, workflow_id=workflow_id) as store:
            await send_signal(store, workflow_id, name, given)
        out.print(Text(f"signal '{name}' sent to workflow {workflow_id}"))
        return EXIT_OK

    try:
        code = asyncio.run(work())
    except InputError as exc:
        print_error(err, str(exc))
        code = EXIT_USAGE
    except WorkflowNotFound as exc:
        print_error(err, str(exc))
        code = EXIT_NOT_FOUND
    except RuvonError as exc:
        print_error(err, str(exc))
        code = EXIT_FAILED
    raise typer.Exit(code)
