"""0.10's completion helper (completion is signalled, so nothing needs polling)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routilux.flow.flow import Flow


def ensure_event_loop_running(flow: Flow) -> None:
    """Nothing to do: the scheduler starts workers as jobs need them."""
    del flow
