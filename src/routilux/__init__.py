"""routilux: event-driven routines wired into flows and run by a worker pool.

A :class:`Routine` has slots (inputs) and events (outputs); a :class:`Flow`
connects events to slots and runs jobs, sequentially or concurrently, tracking each
job in a :class:`JobState`. The public API is that of routilux 0.10 (see
``docs/routilux.md`` for the deliberate differences).
"""

from routilux.builtin_routines import (
    ConditionalRouter,
    DataFlattener,
    DataTransformer,
    DataValidator,
    ResultExtractor,
    TextClipper,
    TextRenderer,
    TimeProvider,
)
from routilux.connection import Connection
from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.errors import RoutiluxError, UnsafeRestoreError
from routilux.event import Event
from routilux.execution_context import ExecutionContext
from routilux.execution_tracker import ExecutionTracker
from routilux.flow import Flow
from routilux.job_state import ExecutionRecord, JobState, JobStatus
from routilux.output_handler import (
    CallbackOutputHandler,
    NullOutputHandler,
    OutputHandler,
    QueueOutputHandler,
)
from routilux.routine import Routine
from routilux.serializable import Serializable, register_serializable
from routilux.slot import Slot

__version__ = "0.10.0"

__all__ = [
    "CallbackOutputHandler",
    "ConditionalRouter",
    "Connection",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ErrorHandler",
    "ErrorStrategy",
    "Event",
    "ExecutionContext",
    "ExecutionRecord",
    "ExecutionTracker",
    "Flow",
    "JobState",
    "JobStatus",
    "NullOutputHandler",
    "OutputHandler",
    "QueueOutputHandler",
    "ResultExtractor",
    "RoutiluxError",
    "Routine",
    "Serializable",
    "Slot",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
    "UnsafeRestoreError",
    "__version__",
    "register_serializable",
]
