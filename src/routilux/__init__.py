"""routilux: event-driven routines wired into flows and run by a worker pool.

A :class:`Routine` has slots (inputs) and events (outputs); a :class:`Flow`
connects events to slots and runs jobs, sequentially or concurrently, tracking each
job in a :class:`JobState`.
"""

from routilux.connection import Connection
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.errors import RoutiluxError
from routilux.event import Event
from routilux.execution_tracker import ExecutionTracker
from routilux.flow import Flow
from routilux.job_state import ExecutionRecord, JobState, JobStatus
from routilux.routine import Routine
from routilux.slot import Slot

__all__ = [
    "Connection",
    "ErrorHandler",
    "ErrorStrategy",
    "Event",
    "ExecutionRecord",
    "ExecutionTracker",
    "Flow",
    "JobState",
    "JobStatus",
    "RoutiluxError",
    "Routine",
    "Slot",
]
