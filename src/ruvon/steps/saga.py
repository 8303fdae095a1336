"""Saga compensation: when a step of a ``saga_mode`` workflow fails, undo the completed steps.

Compensations run in reverse order of completion. Each is logged; a failing compensation is logged
and recorded, and the others still run.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import BaseModel

from ruvon.definition import LoadedDefinition
from ruvon.engine_record import Compensation, EngineRecord
from ruvon.models import StepContext
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.observer import WorkflowObserver, notify
from ruvon.providers.persistence import LogEntry
from ruvon.results import apply_result, as_update

_log = logging.getLogger("ruvon.workflow")


async def compensate(
    *,
    workflow_id: str,
    loaded: LoadedDefinition,
    state: BaseModel,
    engine: EngineRecord,
    metadata: dict[str, Any],
    executor: ExecutionProvider,
    observer: WorkflowObserver | None = None,
) -> list[LogEntry]:
    """Run the compensations of the completed steps, newest first; return their log entries.

    Each compensation is ``f(state, context)`` and may return a dict that updates the state.
    ``engine.compensations`` gets one record per compensation; ``metadata`` is the user's, given
    to each compensation as ``context.metadata``.
    """
    steps = {step.name: step for step in loaded.steps}
    done, engine.saga_completed = engine.saga_completed, []
    records = engine.compensations
    log: list[LogEntry] = []
    for name in reversed(done):
        dotted = steps[name].compensate_function
        if dotted is None:
            continue
        started = time.time()
        context = StepContext(workflow_id=workflow_id, step_name=name, metadata=metadata)
        if observer is not None:
            index = loaded.step_index.get(name, -1)
            await notify(observer.on_compensation_started, workflow_id, name, index)
        try:
            value = await executor.run_step(loaded.functions[dotted], state, context)
            where = f"{loaded.source}, compensation of step '{name}' ({dotted})"
            apply_result(state, as_update(value, where), where, step_name=name)
        except (Exception, SystemExit) as exc:  # one failing compensation never stops the others
            message = f"{type(exc).__name__}: {exc}"
            _log.error("compensation of step '%s' (%s) failed: %s", name, dotted, message)
            records.append(Compensation(name, ok=False, error=message))
            if observer is not None:
                await notify(observer.on_compensation_completed, workflow_id, name, False, message)
            log.append(
                LogEntry(workflow_id, "COMPENSATION_FAILED", name, at=started, message=message)
            )
            continue
        records.append(Compensation(name, ok=True))
        if observer is not None:
            await notify(observer.on_compensation_completed, workflow_id, name, True, None)
        log.append(
            LogEntry(workflow_id, "COMPENSATED", name, at=started, duration=time.time() - started)
        )
    return log
