"""NoopObserver: ignores every event."""

from __future__ import annotations

from ruvon.providers.observer import WorkflowObserver


class NoopObserver(WorkflowObserver):
    """An observer that does nothing (the default)."""

    reads_state_only = True  # never changes the state it is given
