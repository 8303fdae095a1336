"""Signals: named events sent to a workflow from outside (``Workflow.signal``, ``ruvon signal``,
the HTTP server).

A signal goes into the workflow's durable inbox (``ruvon_signals``) at once, whatever the workflow
is doing: one sent before the workflow reaches its WAIT_FOR_SIGNAL step is kept until the step
consumes it. Signals of one name are consumed in the order they were sent, each once. Sending to a
workflow that waits for a signal wakes it: a serving worker (``ruvon serve``) runs the step.
"""

from __future__ import annotations

from typing import Any

from ruvon.errors import ConfigurationError
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.timer_store import signal_problem, timers_of


async def send_signal(
    persistence: PersistenceProvider,
    workflow_id: str,
    name: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Send the signal ``name`` (with ``data``, a JSON object) to the stored workflow ``workflow_id``.

    Raises:
        WorkflowNotFound: No workflow with that id is stored.
        WorkflowStateError: The workflow has ended (COMPLETED, FAILED, CANCELLED, ...).
        ConfigurationError: The name or data are not usable (empty or over 200 characters, not a
            JSON object, over 256 KiB), or the store keeps no signals.
    """
    problem = signal_problem(workflow_id, name, data)
    if problem is not None:
        raise ConfigurationError(problem)
    store = timers_of(persistence, f"sending the signal '{name}' to workflow {workflow_id}")
    await store.send(workflow_id, name, None if data is None else dict(data))
