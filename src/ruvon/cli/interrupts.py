"""Ctrl-C while a workflow runs: the first stops dispatching and keeps saving, the second exits.

The first Ctrl-C interrupts the executor (:meth:`ExecutionProvider.interrupt`): no new step or task
starts, the tasks already running finish and their results are saved as they arrive, then the
workflow stops where it is (still ACTIVE, ready for ``ruvon resume``). A second Ctrl-C exits at once
(exit code 130); results that had not arrived are lost, and resume runs those tasks again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text

from ruvon.cli.exits import EXIT_INTERRUPTED
from ruvon.providers.execution import ExecutionProvider

__all__ = ["EXIT_INTERRUPTED", "interrupt_guard"]


@contextmanager
def interrupt_guard(executor: ExecutionProvider, workflow_id: str, err: Console) -> Iterator[None]:
    """Handle SIGINT on the running loop as described above, while the block runs.

    Where the loop cannot handle signals (not the main thread, or Windows), Ctrl-C keeps Python's
    default behaviour.
    """
    loop = asyncio.get_running_loop()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            err.print(
                Text(
                    "interrupt: no new step or task starts; the running ones finish and their "
                    "results are saved. Press Ctrl-C again to exit now.",
                    style="yellow",
                )
            )
            executor.interrupt()
            return
        err.print(
            Text(
                f"exiting now; results not saved yet are lost. Continue with: "
                f"ruvon resume {workflow_id}",
                style="yellow",
            )
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # at once: no waiting for threads still in user code

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
