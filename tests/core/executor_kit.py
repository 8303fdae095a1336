"""Task and step functions for the executor tests (importable as executor_kit): gates and threads."""

from __future__ import annotations

import threading
from typing import Any

from ruvon.models import StepContext

#: Set by the task ``open_gate``; awaited by ``wait_for_gate``.
GATE = threading.Event()
#: Set by the tests to let ``blocked`` tasks return.
RELEASE = threading.Event()
#: The threads step functions ran on.
THREADS: list[int] = []


def reset() -> None:
    GATE.clear()
    RELEASE.clear()
    THREADS.clear()


def wait_for_gate(state: Any, context: StepContext) -> dict[str, Any]:
    """True only if another task of the same step started while this one was running."""
    return {"a": GATE.wait(10)}


def quick(state: Any, context: StepContext) -> dict[str, Any]:
    return {"b": 1}


def open_gate(state: Any, context: StepContext) -> dict[str, Any]:
    GATE.set()
    return {"c": 1}


def blocked(state: Any, context: StepContext) -> dict[str, Any]:
    """Runs until the test releases it (a runaway task)."""
    RELEASE.wait(60)
    return {}


def record_thread(state: Any, context: StepContext) -> dict[str, Any]:
    THREADS.append(threading.get_ident())
    return {"n": state.n + 1}
