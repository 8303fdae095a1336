"""Step functions for the timer, signal and step-timeout tests (importable as ``timers_kit``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from steps_kit import State

from ruvon.models import StepContext, WorkflowSleepDirective

SEEN: dict[str, Any] = {}
RELEASE = threading.Event()


def nap_returned(state: State, context: StepContext) -> Any:
    return WorkflowSleepDirective(seconds=30, result={"n": state.n + 1})


def nap_raised(state: State, context: StepContext) -> Any:
    raise WorkflowSleepDirective(until="2030-01-01T00:00:00", result={"note": "raised"})


async def hangs(state: State, context: StepContext) -> dict[str, Any]:
    SEEN["deadline"] = context.deadline
    SEEN["time_left"] = context.time_left()
    await asyncio.Event().wait()  # never set: only the step timeout ends this
    return {"n": 99}


def ignores_timeout(state: State, context: StepContext) -> dict[str, Any]:
    RELEASE.wait(5)  # the test releases it after the step failed
    SEEN["thread_finished"] = True
    return {"n": 99}


def quick(state: State, context: StepContext) -> dict[str, Any]:
    SEEN["time_left"] = context.time_left()
    return {"n": state.n + 1}
