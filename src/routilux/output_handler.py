"""Output handlers: where ``Routine.send_output`` data goes (besides ``output_log``)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any

logger = logging.getLogger("routilux.output_handler")


class OutputHandler(ABC):
    """Receives the outputs a job's routines send; attached per JobState, not saved."""

    @abstractmethod
    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        """Handles one output."""


class QueueOutputHandler(OutputHandler):
    """Puts each output as a dict on a queue (anything with ``put``).

    Args:
        queue: A ``queue.Queue`` or similar.
    """

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        """Puts ``{job_id, routine_id, output_type, data, timestamp}`` on the queue."""
        self.queue.put(
            {
                "job_id": job_id,
                "routine_id": routine_id,
                "output_type": output_type,
                "data": data,
                "timestamp": (timestamp or datetime.now()).isoformat(),
            }
        )


class CallbackOutputHandler(OutputHandler):
    """Calls ``callback(job_id, routine_id, output_type, data, timestamp)`` per output.

    Args:
        callback: The function to call; its errors are logged, not raised.
    """

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback

    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        """Calls the callback."""
        try:
            self.callback(job_id, routine_id, output_type, data, timestamp or datetime.now())
        except Exception:
            logger.exception("Output callback failed for routine %s", routine_id)


class NullOutputHandler(OutputHandler):
    """Discards every output."""

    def handle(
        self,
        job_id: str,
        routine_id: str,
        output_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
    ) -> None:
        """Does nothing."""
