"""The routilux exception tree.

Every error routilux raises on bad input derives from :class:`RoutiluxError`, and
most also derive from the built-in exception that fits (``ValueError`` for bad
definitions, ``KeyError`` for unknown names), so existing ``except`` clauses keep
working. Messages are full sentences that name what exists and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable


def _names(names: Iterable[str]) -> str:
    """Formats a collection of names for an error message."""
    listed = sorted(names)
    if not listed:
        return "none"
    return ", ".join(repr(name) for name in listed)


class RoutiluxError(Exception):
    """Base class of every error routilux raises."""

    def __str__(self) -> str:
        # KeyError would otherwise wrap the sentence in quotes.
        return str(self.args[0]) if self.args else ""


class DefinitionError(RoutiluxError, ValueError):
    """A routine, slot, event, flow or handler was defined wrongly."""


class DuplicateNameError(DefinitionError):
    """A routine id, slot name or event name is already taken."""

    def __init__(self, kind: str, name: str, owner: str, existing: Iterable[str]) -> None:
        article = "an" if kind[:1] in "aeiou" else "a"
        super().__init__(
            f"{owner} already has {article} {kind} named {name!r} (existing: "
            f"{_names(existing)}); choose a different name or remove the old {kind} first."
        )


class UnknownNameError(RoutiluxError, KeyError, ValueError):
    """A routine id, event name or slot name does not exist."""

    def __init__(
        self, kind: str, name: str, owner: str, existing: Iterable[str], hint: str = ""
    ) -> None:
        fix = hint or f"Check the spelling or define the {kind} first."
        super().__init__(
            f"{owner} has no {kind} named {name!r}; the {kind}s that exist are "
            f"{_names(existing)}. {fix}"
        )


class UnknownRoutineError(UnknownNameError):
    """A flow has no routine with the given id."""


class UnknownEventError(UnknownNameError):
    """A routine has no event with the given name."""


class UnknownSlotError(UnknownNameError):
    """A routine has no slot with the given name."""


class HandlerBindingError(RoutiluxError, TypeError):
    """A slot handler needs keys that the received message does not carry."""


class ExecutionContextError(RoutiluxError, RuntimeError):
    """``emit`` was called outside a running job, or a job belongs to another flow."""


class ForeignJobError(RoutiluxError, ValueError):
    """A job was handed to a flow other than the one that runs it."""


class FlowStateError(RoutiluxError, RuntimeError):
    """An operation does not fit the current state of the flow or job."""


class ExecutionTimeoutError(RoutiluxError, TimeoutError):
    """A job did not finish within the flow's ``execution_timeout``."""


class SerializationError(RoutiluxError, ValueError):
    """A flow, routine or job could not be serialized or deserialized."""


class UnsafeRestoreError(SerializationError):
    """Saved data named a class or callable that routilux refuses to resolve.

    Saved flows and job states are data: restoring them never imports a module or
    runs a function the data names, unless the class is a registered routine (or
    one of its methods) or the module is in the caller's ``allow_modules``.
    """
