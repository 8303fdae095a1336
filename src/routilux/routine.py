"""Routines: units of work with named slots (inputs) and events (outputs)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from routilux.error_handler import ErrorHandler
from routilux.errors import (
    DuplicateNameError,
    ExecutionContextError,
    UnknownEventError,
    UnknownSlotError,
)
from routilux.event import Event
from routilux.execution_context import current_context
from routilux.slot import Handler, MergeStrategy, Slot

if TYPE_CHECKING:
    from routilux.flow import Flow


class Routine:
    """Base class of every routine.

    Subclasses define their slots and events in ``__init__`` (after calling
    ``super().__init__()``) and keep per-routine settings in the config, which is
    serialized with the flow. Execution state belongs in the job
    (:class:`~routilux.job_state.JobState`), never on the routine, because one
    routine object serves every execution of its flow.
    """

    def __init__(self) -> None:
        self._slots: dict[str, Slot] = {}
        self._events: dict[str, Event] = {}
        self._config: dict[str, Any] = {}
        self._config_lock = threading.Lock()
        self._error_handler: ErrorHandler | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(slots={list(self._slots)}, events={list(self._events)})"

    def _describe(self) -> str:
        return f"routine {type(self).__name__}"

    def define_slot(
        self,
        name: str,
        handler: Handler | None = None,
        merge_strategy: MergeStrategy = "override",
    ) -> Slot:
        """Defines an input slot.

        Args:
            name: The slot's name; the entry routine of a flow needs ``"trigger"``.
            handler: Called with the merged message (see :class:`~routilux.slot.Slot`
                for how arguments are bound).
            merge_strategy: ``"override"``, ``"append"`` or ``f(old, new)``.

        Returns:
            The new slot.

        Raises:
            DuplicateNameError: If the routine already has a slot of that name.
        """
        if name in self._slots:
            raise DuplicateNameError("slot", name, self._describe(), self._slots)
        slot = Slot(name, handler, merge_strategy, owner=self._describe())
        self._slots[name] = slot
        return slot

    def define_event(self, name: str, output_params: list[str] | None = None) -> Event:
        """Defines an output event.

        Args:
            name: The event's name.
            output_params: The keys the event carries (documentation only).

        Returns:
            The new event.

        Raises:
            DuplicateNameError: If the routine already has an event of that name.
        """
        if name in self._events:
            raise DuplicateNameError("event", name, self._describe(), self._events)
        event = Event(name, output_params)
        self._events[name] = event
        return event

    @property
    def slots(self) -> dict[str, Slot]:
        """A copy of the routine's slots by name."""
        return dict(self._slots)

    @property
    def events(self) -> dict[str, Event]:
        """A copy of the routine's events by name."""
        return dict(self._events)

    def get_slot(self, name: str) -> Slot:
        """Returns the slot called ``name``.

        Raises:
            UnknownSlotError: If there is no such slot.
        """
        try:
            return self._slots[name]
        except KeyError:
            raise UnknownSlotError("slot", name, self._describe(), self._slots) from None

    def get_event(self, name: str) -> Event:
        """Returns the event called ``name``.

        Raises:
            UnknownEventError: If there is no such event.
        """
        try:
            return self._events[name]
        except KeyError:
            raise UnknownEventError("event", name, self._describe(), self._events) from None

    def emit(self, event: str, flow: Flow | None = None, **data: Any) -> None:
        """Emits an event to every connected slot, without waiting for them.

        The flow and job come from the execution context that the flow sets while it
        runs this routine's handler; ``flow`` is only needed to pick a flow other
        than the current one (which still has to be running a job).

        Args:
            event: The name of one of this routine's events.
            flow: The flow to emit into; defaults to the current one.
            **data: The message.

        Raises:
            UnknownEventError: If the routine has no such event.
            ExecutionContextError: If no job of that flow is running here.
        """
        self.get_event(event)
        context = current_context()
        target = flow if flow is not None else (context.flow if context else None)
        if context is None or target is None or context.flow is not target:
            raise ExecutionContextError(
                f"{self._describe()} emitted {event!r} outside a running job of its flow; "
                "emit from a slot handler while Flow.execute() or Flow.resume() runs the job."
            )
        target.dispatch_event(self, event, data, context.job_state)

    def set_config(self, **config: Any) -> None:
        """Stores configuration values (serialized with the flow)."""
        with self._config_lock:
            self._config.update(config)

    def get_config(self, key: str, default: Any = None) -> Any:
        """Returns a configuration value, or ``default`` if it is not set."""
        with self._config_lock:
            return self._config.get(key, default)

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the whole configuration."""
        with self._config_lock:
            return dict(self._config)

    def set_error_handler(self, error_handler: ErrorHandler | None) -> None:
        """Sets this routine's error policy; it wins over the flow's."""
        self._error_handler = error_handler

    def get_error_handler(self) -> ErrorHandler | None:
        """Returns this routine's own error policy, if any."""
        return self._error_handler
