"""Command-line options shared by several ``ruvon`` commands (typer ``Annotated`` aliases)."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ruvon.cli.store import DEFAULT_DB as DEFAULT_DB  # re-exported for the commands

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
Json = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (fields: docs/cli.md)."),
]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="Definition parameter KEY=VALUE (repeat it); VALUE is JSON if it parses as JSON, "
        "else text.",
        show_default=False,
    ),
]


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
RecordedExecutor = Annotated[
    ExecutorKind | None,
    typer.Option(
        "--executor",
        help="sync, thread or celery; default: the executor the workflow was started with.",
        show_default=False,
    ),
]
LeaseWait = Annotated[
    float | None,
    typer.Option(
        "--wait",
        min=0,
        help="Seconds to wait for another driver's lease on the workflow (default: fail at once).",
    ),
]
LeaseSeconds = Annotated[
    float,
    typer.Option(
        "--lease-seconds",
        min=0.5,
        help="Lease length: a dead worker's workflows move on this long after it died.",
    ),
]
