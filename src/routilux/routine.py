"""Routines: units of work with named slots (inputs) and events (outputs)."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING, Any

from routilux.error_handler import ErrorHandler, ErrorStrategy
from routilux.errors import (
    DuplicateNameError,
    ExecutionContextError,
    SerializationError,
    UnknownEventError,
    UnknownSlotError,
)
from routilux.event import Event
from routilux.execution_context import ExecutionContext, current_context
from routilux.serializable import (
    RestoreContext,
    Serializable,
    class_path,
    dump_fields,
    dump_value,
    load_fields,
    load_value,
    record_routine_class,
)
from routilux.slot import Handler, MergeStrategy, Slot

if TYPE_CHECKING:
    from routilux.flow import Flow

__all__ = ["ExecutionContext", "Routine"]

logger = logging.getLogger("routilux.routine")

#: The fields every routine serializes itself; ``add_serializable_fields`` adds more.
ROUTINE_FIELDS = ("_id", "_config", "_error_handler", "_slots", "_events")


class Routine(Serializable):
    """Base class of every routine.

    Subclasses define their slots and events in ``__init__`` (after calling
    ``super().__init__()``) and keep per-routine settings in the config, which is
    serialized with the flow. Execution state belongs in the job
    (:class:`~routilux.job_state.JobState`), never on the routine, because one
    routine object serves every execution of its flow. Defining a subclass records
    it, so a saved flow can name it (see :mod:`routilux.serializable`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        record_routine_class(cls)

    def __init__(self) -> None:
        super().__init__()
        self._id = hex(id(self))
        self._slots: dict[str, Slot] = {}
        self._events: dict[str, Event] = {}
        self._config: dict[str, Any] = {}
        self._config_lock = threading.Lock()
        self._error_handler: ErrorHandler | None = None
        self._current_flow: Flow | None = None
        self.add_serializable_fields(list(ROUTINE_FIELDS))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(slots={list(self._slots)}, events={list(self._events)})"

    def _describe(self) -> str:
        return f"routine {type(self).__name__}"

    def __call__(self, **kwargs: Any) -> None:
        """Deprecated no-op kept from routilux 0.10: drive routines through slots."""
        warnings.warn(
            f"Calling {type(self).__name__}() directly does nothing; send data to a slot.",
            DeprecationWarning,
            stacklevel=2,
        )

    # -- definition -------------------------------------------------------------

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
        slot = Slot(name, self, handler, merge_strategy)
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
        event = Event(name, self, output_params)
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

    def get_slot(self, name: str) -> Slot | None:
        """Returns the slot called ``name``, or ``None``."""
        return self._slots.get(name)

    def get_event(self, name: str) -> Event | None:
        """Returns the event called ``name``, or ``None``."""
        return self._events.get(name)

    def require_slot(self, name: str) -> Slot:
        """Returns the slot called ``name``.

        Raises:
            UnknownSlotError: If there is no such slot.
        """
        try:
            return self._slots[name]
        except KeyError:
            raise UnknownSlotError("slot", name, self._describe(), self._slots) from None

    def require_event(self, name: str) -> Event:
        """Returns the event called ``name``.

        Raises:
            UnknownEventError: If there is no such event.
        """
        try:
            return self._events[name]
        except KeyError:
            raise UnknownEventError("event", name, self._describe(), self._events) from None

    # -- running ----------------------------------------------------------------

    def emit(self, event_name: str, flow: Flow | None = None, **kwargs: Any) -> None:
        """Emits an event to every connected slot, without waiting for them.

        The flow and job come from the execution context the flow sets while it
        runs this routine's handler; without one, the flow that last executed or
        resumed this routine is used (its latest job, or a new job if that one has
        ended). Outside any flow, the
        connected slots (``Event.connect``) receive the data at once, in this thread.

        Args:
            event_name: The name of one of this routine's events.
            flow: The flow to emit into; defaults to the current one.
            **kwargs: The message.

        Raises:
            UnknownEventError: If the routine has no such event (a ``ValueError``).
            ExecutionContextError: If the routine is not part of the flow.
        """
        event = self._events.get(event_name)
        if event is None:
            raise UnknownEventError("event", event_name, self._describe(), self._events)
        context = current_context()
        if context is not None and (flow is None or flow is context.flow):
            context.flow.dispatch_event(self, event_name, kwargs, context.job_state)
            return
        target = flow or self._current_flow
        if target is None:
            for slot in list(event.connected_slots):
                mapping = event.mapping_for(slot)
                slot.receive({mapping.get(k, k): v for k, v in kwargs.items()})
            return
        job = target.job_state
        if job is None or job.status.is_terminal:
            # 0.10 code drives routines by hand (slot.receive with _current_flow set):
            # the emit starts a job of its own on the flow.
            target.dispatch_detached(self, event_name, kwargs)
            return
        target.dispatch_event(self, event_name, kwargs, job)

    def get_execution_context(self) -> ExecutionContext | None:
        """Returns ``(flow, job_state, routine_id)`` while a handler runs, else None."""
        return current_context()

    def _require_context(self, action: str) -> ExecutionContext:
        context = current_context()
        if context is None:
            raise ExecutionContextError(
                f"{self._describe()} called {action} outside a running job; call it from a "
                "slot handler while the flow runs."
            )
        return context

    def emit_deferred_event(self, event_name: str, **kwargs: Any) -> None:
        """Stores an event in the job; ``Flow.resume`` emits it before queued work.

        Raises:
            ExecutionContextError: Outside a running job (a ``RuntimeError``).
        """
        context = self._require_context("emit_deferred_event")
        self.require_event(event_name)
        context.job_state.add_deferred_event(context.routine_id, event_name, kwargs)

    def send_output(self, output_type: str, **data: Any) -> None:
        """Sends data to the job's output handler and ``output_log`` (not a graph event)."""
        context = self._require_context("send_output")
        context.job_state.send_output(context.routine_id, output_type, data)

    # -- configuration ----------------------------------------------------------

    def set_config(self, **kwargs: Any) -> None:
        """Stores configuration values (serialized with the flow)."""
        with self._config_lock:
            self._config.update(kwargs)

    def get_config(self, key: str, default: Any = None) -> Any:
        """Returns a configuration value, or ``default`` if it is not set."""
        with self._config_lock:
            return self._config.get(key, default)

    def config(self) -> dict[str, Any]:
        """Returns a copy of the whole configuration."""
        with self._config_lock:
            return dict(self._config)

    def set_error_handler(self, error_handler: ErrorHandler | None) -> None:
        """Sets this routine's error policy; it wins over the flow's."""
        self._error_handler = error_handler

    def get_error_handler(self) -> ErrorHandler | None:
        """Returns this routine's own error policy, if any."""
        return self._error_handler

    def set_as_optional(self, strategy: ErrorStrategy | str | None = None) -> None:
        """Marks the routine optional: its errors do not fail the job (CONTINUE by default)."""
        self._error_handler = ErrorHandler(strategy or ErrorStrategy.CONTINUE, is_critical=False)

    def set_as_critical(
        self, max_retries: int = 3, retry_delay: float = 1.0, retry_backoff: float = 2.0
    ) -> None:
        """Marks the routine critical: RETRY, and fail the job when retries run out."""
        self._error_handler = ErrorHandler(
            ErrorStrategy.RETRY, max_retries, retry_delay, retry_backoff, is_critical=True
        )

    @staticmethod
    def _extract_input_data(data: Any = None, **kwargs: Any) -> Any:
        """Returns ``data``, else ``kwargs["data"]``, else the single value, else all."""
        if data is not None:
            return data
        if "data" in kwargs:
            return kwargs["data"]
        if len(kwargs) == 1:
            return next(iter(kwargs.values()))
        return dict(kwargs)

    # -- serialization ----------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        """Returns class, id, config, error handler, slots, events and added fields."""
        what = f"{self._describe()} {self._id}"
        handler = self._error_handler
        data: dict[str, Any] = {
            "_type": type(self).__name__,
            "class": class_path(type(self)),
            "_id": self._id,
            "_config": dump_value(self.config(), f"the config of {what}"),
            "_error_handler": handler.serialize() if handler else None,
            "_slots": {name: slot.serialize() for name, slot in self._slots.items()},
            "_events": {name: event.serialize() for name, event in self._events.items()},
        }
        data.update(dump_fields(self, ROUTINE_FIELDS, what))
        return data

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores this routine from :meth:`serialize` output.

        Handlers resolve only to methods of this routine (or of routines in
        ``registry``, a :class:`~routilux.serializable.RestoreContext`) and to
        functions of its ``allow_modules``; anything else is refused.
        """
        self._restore(data, RestoreContext.of(registry, self))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        ctx = ctx.for_owner(self)
        what = f"routine {data.get('_id', self._id)!r}"
        self._id = str(data.get("_id", self._id))
        config = load_value(data.get("_config") or {}, ctx, f"the config of {what}")
        with self._config_lock:
            self._config.update(config if isinstance(config, dict) else {})
        handler = data.get("_error_handler")
        self._error_handler = None
        if isinstance(handler, dict):
            self._error_handler = ErrorHandler()
            self._error_handler._restore(handler, ctx)
        for name, slot_data in (data.get("_slots") or {}).items():
            slot = self._slots.get(name)
            if slot is None:
                if isinstance(slot_data, dict) and slot_data.get("handler_unsaved"):
                    raise SerializationError(
                        f"The handler of slot {name!r} of {what} is a lambda or closure, so it "
                        "cannot be restored; define the slot in the routine's __init__ or use "
                        "a method as its handler."
                    )
                slot = self.define_slot(name)
            slot._restore(dict(slot_data, name=name), ctx)
        for name, event_data in (data.get("_events") or {}).items():
            event = self._events.get(name) or self.define_event(name)
            event._restore(dict(event_data, name=name), ctx)
        load_fields(self, data, ROUTINE_FIELDS, ctx)
