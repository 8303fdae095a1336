"""Slots: the named inputs of a routine.

A slot merges each incoming message with what it received earlier in the same
execution (job) and calls its handler with the result. The merge state lives in
the :class:`~routilux.job_state.JobState`, never on the slot, so two executions of
one flow never see each other's data.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from routilux.errors import DefinitionError, HandlerBindingError

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


class Slot:
    """A named input of a routine.

    Args:
        name: The slot's name, unique within its routine.
        handler: Called with the merged message; ``None`` just collects data.
        merge_strategy: ``"override"`` (the handler gets the newest message),
            ``"append"`` (every key accumulates into a list across the messages of
            one execution) or a callable ``f(old, new)`` returning what the handler
            gets (``old`` is the previous result, ``{}`` at first).
        owner: A description of the owning routine, used in error messages.

    Raises:
        DefinitionError: If ``merge_strategy`` is not one of the above.
    """

    def __init__(
        self,
        name: str,
        handler: Handler | None = None,
        merge_strategy: MergeStrategy = "override",
        owner: str = "routine",
    ) -> None:
        if not callable(merge_strategy) and merge_strategy not in ("override", "append"):
            raise DefinitionError(
                f"Slot {name!r} of {owner} has merge_strategy {merge_strategy!r}; use "
                "'override', 'append' or a callable f(old, new) returning a dict."
            )
        self.name = name
        self.handler = handler
        self.merge_strategy = merge_strategy
        self._binder = _Binder(handler) if handler is not None else None

    def __repr__(self) -> str:
        strategy = self.merge_strategy if isinstance(self.merge_strategy, str) else "callable"
        return f"Slot({self.name!r}, merge_strategy={strategy!r})"

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

    def call_handler(self, merged: Mapping[str, Any]) -> Any:
        """Calls the handler with arguments bound from a merged message.

        Args:
            merged: The result of :meth:`merge`.

        Returns:
            Whatever the handler returns (``None`` without a handler).
        """
        if self._binder is None:
            return None
        if self.merge_strategy == "append":
            # The handler gets its own lists, so later messages cannot change them.
            merged = {key: list(value) for key, value in merged.items()}
        return self._binder.call(merged)
