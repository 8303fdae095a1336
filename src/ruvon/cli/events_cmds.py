"""``ruvon signal``: send a named signal (with JSON data) to a stored workflow."""

from __future__ import annotations

from typing import Annotated

import typer

from ruvon.cli.options import DEFAULT_DB, Db, WorkflowId


def register(app: typer.Typer) -> None:
    """Add the event commands to ``app``."""
    app.command(name="signal")(signal)


def signal(
    workflow_id: WorkflowId,
    name: Annotated[str, typer.Argument(help="The signal's name (a WAIT_FOR_SIGNAL step's).")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="The signal's data: a JSON object, or @file.json."),
    ] = None,
    db: Db = DEFAULT_DB,
) -> None:
    """Send the signal NAME to a workflow; a WAIT_FOR_SIGNAL step for it consumes it (one sent
    before the workflow reaches the step is kept)."""
    from ruvon.cli.exits import EXIT_OK, finish, out

    async def work() -> int:
        from rich.text import Text

        from ruvon.cli.inputs import parse_json_object
        from ruvon.cli.store import opened_store
        from ruvon.runtime.events import send_signal

        given = parse_json_object(data, "--data") if data is not None else None
        async with opened_store(db, create=False, workflow_id=workflow_id) as store:
            await send_signal(store, workflow_id, name, given)
        out.print(Text(f"signal '{name}' sent to workflow {workflow_id}"))
        return EXIT_OK

    finish(work)
