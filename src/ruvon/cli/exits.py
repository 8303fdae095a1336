"""Exit codes of the ``ruvon`` command, and the one place that turns errors into them.

Kept free of heavy imports: every command module imports it, and ``ruvon --help`` must stay fast.
"""

import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ruvon.cli.render import make_console, print_error
from ruvon.errors import RuvonError, WorkflowNotFound

if TYPE_CHECKING:  # the engine is imported by the commands, not by 'ruvon --help'
    from ruvon.cli.commands import Session

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WAITING = 3
EXIT_NOT_FOUND = 4
EXIT_INTERRUPTED = 130

out = make_console()
err = make_console(stderr=True)


def session_for(db: str, config_dir: Path | None = None, json_out: bool = False) -> "Session":
    """The command's session on ``db`` (the engine is imported here, when a command runs)."""
    from ruvon.cli.commands import Session

    return Session(db=db, config_dir=config_dir, out=out, err=err, json_out=json_out)


def finish(work: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run ``work`` and exit with its code; an error becomes ``error: <message>`` on stderr."""
    raise typer.Exit(exit_code(work))


def exit_code(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run ``work`` to its exit code, mapping each kind of error to its code and one line."""
    import asyncio  # here, not at the top: it costs ``ruvon --help`` a tenth of its time

    from ruvon.cli.inputs import InputError

    try:
        return asyncio.run(work())
    except InputError as exc:
        print_error(err, str(exc))
        return EXIT_USAGE
    except WorkflowNotFound as exc:
        print_error(err, str(exc))
        return EXIT_NOT_FOUND
    except RuvonError as exc:
        print_error(err, str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print_error(err, "interrupted. A stored workflow can be continued with 'ruvon resume ID'.")
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        # Workflow code (a module imported for a definition, a step) called sys.exit(): that is a
        # failure of the code, not a status for the shell, so it never leaks out as our exit code.
        print_error(err, system_exit_message(exc, "while loading or running workflow code"))
        return EXIT_FAILED
    except Exception as exc:
        if os.environ.get("RUVON_TRACEBACK"):
            raise
        print_error(
            err,
            f"unexpected {type(exc).__name__}: {exc} (set RUVON_TRACEBACK=1 for the traceback).",
        )
        return EXIT_FAILED


def system_exit_message(exc: SystemExit, where: str) -> str:
    """The sentence for a ``sys.exit(code)`` called by workflow code ``where``."""
    return (
        f"workflow code called sys.exit({exc.code!r}) {where}. A step must raise an exception to "
        f"fail (or return a dict to succeed); remove the sys.exit call."
    )
