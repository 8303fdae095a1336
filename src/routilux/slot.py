"""Slots: the named inputs of a routine.

A slot merges each incoming message with what it received earlier in the same
execution (job) and calls its handler with the result. The merge state lives in
the :class:`~routilux.job_state.JobState`, never on the slot, so two executions of
one flow never see each other's data.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from routilux.errors import DefinitionError, HandlerBindingError, SerializationError
from routilux.serializable import RestoreContext, Serializable, callable_ref

if TYPE_CHECKING:
    from routilux.event import Event
    from routilux.flow import Flow
    from routilux.job_state import JobState
    from routilux.routine import Routine

logger = logging.getLogger("routilux.slot")

#: A merge function: ``f(old, new)`` returns what the handler gets.
MergeFunction = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
#: ``"override"``, ``"append"`` or a :data:`MergeFunction`.
MergeStrategy = str | MergeFunction
Handler = Callable[..., Any]

_NAMED_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class _Binder:
    """Turns a message dict into the call a handler expects.

    * a ``**kwargs`` handler gets every key as a keyword argument;
    * a single parameter named ``data`` gets the whole dict;
    * a single other parameter gets that key, or the whole dict if the key is absent;
    * several parameters get the matching keys (missing ones fall back to defaults).
    """

    def __init__(self, handler: Handler) -> None:
        signature = inspect.signature(handler)
        params = list(signature.parameters.values())
        self.takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        self.named = [p for p in params if p.kind in _NAMED_KINDS]
        self.required = {p.name for p in self.named if p.default is inspect.Parameter.empty}
        self.handler = handler

    def call(self, message: Mapping[str, Any]) -> Any:
        """Calls the handler with arguments taken from ``message``."""
        if self.takes_kwargs:
            return self.handler(**message)
        if not self.named:
            return self.handler()
        if len(self.named) == 1:
            name = self.named[0].name
            if name == "data" or name not in message:
                return self.handler(dict(message))
            return self.handler(message[name])
        missing = self.required - message.keys()
        if missing:
            raise HandlerBindingError(
                f"Handler {getattr(self.handler, '__qualname__', self.handler)!r} needs "
                f"{sorted(missing)} but the message only has {sorted(message)}; emit those "
                "keys, map them with param_mapping, or give the parameters defaults."
            )
        return self.handler(**{p.name: message[p.name] for p in self.named if p.name in message})


class Slot(Serializable):
    """A named input of a routine.

    Args:
        name: The slot's name, unique within its routine.
        routine: The routine that owns the slot.
        handler: Called with the merged message; ``None`` just collects data.
        merge_strategy: ``"override"`` (the handler gets the newest message),
            ``"append"`` (every key accumulates into a list across the messages of
            one execution) or a callable ``f(old, new)`` returning what the handler
            gets (``old`` is the previous result, ``{}`` at first).

    Raises:
        DefinitionError: If ``merge_strategy`` is not one of the above.
    """

    def __init__(
        self,
        name: str = "",
        routine: Routine | None = None,
        handler: Handler | None = None,
        merge_strategy: MergeStrategy = "override",
    ) -> None:
        super().__init__()
        owner = f"routine {type(routine).__name__}" if routine is not None else "routine"
        if not callable(merge_strategy) and merge_strategy not in ("override", "append"):
            raise DefinitionError(
                f"Slot {name!r} of {owner} has merge_strategy {merge_strategy!r}; use "
                "'override', 'append' or a callable f(old, new) returning a dict."
            )
        self.name = name
        self.routine = routine
        self.merge_strategy = merge_strategy
        self.connected_events: list[Event] = []
        # Merge state of calls outside a job (Slot.receive without a JobState).
        self._data: dict[str, Any] = {}
        self._data_lock = threading.Lock()
        self._binder: _Binder | None = None
        self.handler = handler
        self.add_serializable_fields(["name", "handler", "merge_strategy", "_data"])

    @property
    def handler(self) -> Handler | None:
        """The slot's handler; assigning one re-reads its signature."""
        return self._handler

    @handler.setter
    def handler(self, handler: Handler | None) -> None:
        self._handler = handler
        self._binder = _Binder(handler) if handler is not None else None

    def __repr__(self) -> str:
        strategy = self.merge_strategy if isinstance(self.merge_strategy, str) else "callable"
        return f"Slot({self.name!r}, merge_strategy={strategy!r})"

    def connect(self, event: Event, param_mapping: dict[str, str] | None = None) -> None:
        """Links ``event`` to this slot (both sides), outside any flow."""
        event.connect(self, param_mapping)

    def disconnect(self, event: Event) -> None:
        """Removes the link from ``event`` (both sides)."""
        event.disconnect(self)

    def merge(self, old: dict[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
        """Merges a new message into the state of one execution.

        Args:
            old: What :meth:`merge` returned for the previous message of the same
                execution, or ``None`` for the first message.
            new: The incoming message.

        Returns:
            The new merge state, which is also what the handler gets.
        """
        if self.merge_strategy == "override":
            return dict(new)
        if self.merge_strategy == "append":
            merged = {key: list(values) for key, values in (old or {}).items()}
            for key, value in new.items():
                merged.setdefault(key, []).append(value)
            return merged
        assert callable(self.merge_strategy)
        result = self.merge_strategy(dict(old or {}), dict(new))
        if not isinstance(result, Mapping):
            raise HandlerBindingError(
                f"The merge function of slot {self.name!r} returned {type(result).__name__}; "
                "a merge function must return a dict of handler arguments."
            )
        return dict(result)

    def _merge_data(self, new_data: dict[str, Any]) -> dict[str, Any]:
        """0.10's merge into the slot's own ``_data``; returns what the handler gets."""
        with self._data_lock:
            self._data = self.merge(self._data or None, new_data)
            return self._data

    def invoke(self, merged: Mapping[str, Any]) -> Any:
        """Calls the handler with arguments bound from a merged message (errors propagate)."""
        if self._binder is None:
            return None
        if self.merge_strategy == "append":
            # The handler gets its own lists, so later messages cannot change them.
            merged = {key: list(value) for key, value in merged.items()}
        return self._binder.call(merged)

    def call_handler(self, data: dict[str, Any], propagate_exceptions: bool = False) -> Any:
        """Calls the handler with ``data`` (no merge).

        Args:
            data: The message.
            propagate_exceptions: Re-raise a handler error instead of logging it.
        """
        try:
            return self.invoke(data)
        except Exception:
            if propagate_exceptions:
                raise
            logger.exception("Handler of slot %r failed", self.name)
            return None

    def receive(
        self, data: dict[str, Any], job_state: JobState | None = None, flow: Flow | None = None
    ) -> None:
        """Merges ``data`` and calls the handler now, in this thread.

        The merge state is the job's if ``job_state`` is given, else the slot's own.
        A handler error is handled by the routine's error strategy (or the flow's):
        STOP re-raises it, CONTINUE and SKIP log it, RETRY calls again with backoff.
        """
        if job_state is not None:
            key = f"{getattr(self.routine, '_id', '')}.{self.name}"
            merged = job_state.merge_slot_state(key, lambda old: self.merge(old, data))
        else:
            with self._data_lock:
                self._data = self.merge(self._data or None, data)
                merged = self._data
        handler = self._error_policy(flow)
        attempt = 0
        while True:
            try:
                self.invoke(merged)
                return
            except Exception as exc:
                action = handler.decide(exc, attempt)
                if action.value == "retry":
                    time.sleep(handler.delay_before_retry(attempt))
                    attempt += 1
                    continue
                if action.value == "fail_job":
                    raise
                logger.warning("Handler of slot %r failed (%s): %s", self.name, action.value, exc)
                return

    def _error_policy(self, flow: Flow | None) -> Any:
        from routilux.error_handler import ErrorHandler

        own = self.routine.get_error_handler() if self.routine is not None else None
        return own or (flow.error_handler if flow is not None else None) or ErrorHandler()

    def serialize(self) -> dict[str, Any]:
        """Returns name, merge strategy, handler reference and the slot's own data."""
        strategy: Any = self.merge_strategy
        if callable(strategy):
            strategy = _ref_or_none(strategy, self.routine)
        handler = _ref_or_none(self.handler, self.routine) if self.handler is not None else None
        return {
            "_type": "Slot",
            "name": self.name,
            "handler": handler,
            "handler_unsaved": self.handler is not None and handler is None,
            "merge_strategy": strategy,
            "_data": dict(self._data),
        }

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores the slot; handlers resolve only to methods of its routine (or of
        routines in ``registry``) and functions of allowed modules."""
        self._restore(data, RestoreContext.of(registry, self.routine))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        what = f"slot {data.get('name', self.name)!r}"
        self.name = str(data.get("name", self.name))
        handler = data.get("handler")
        if handler is not None:
            self.handler = ctx.resolve_callable(handler, f"the handler of {what}")
        strategy = data.get("merge_strategy", "override")
        if isinstance(strategy, dict):
            strategy = ctx.resolve_callable(strategy, f"the merge strategy of {what}")
        if strategy is not None:
            # None: a lambda or closure that only the routine's __init__ can re-create.
            self.merge_strategy = (
                strategy if callable(strategy) or strategy == "append" else "override"
            )
        stored = data.get("_data")
        self._data = dict(stored) if isinstance(stored, dict) else {}


def _ref_or_none(func: Callable[..., Any], owner: Any) -> dict[str, Any] | None:
    """A callable reference, or None for a lambda/closure (re-created by ``__init__``)."""
    try:
        return callable_ref(func, owner)
    except SerializationError:
        return None
