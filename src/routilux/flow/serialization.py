"""Turning flow definitions into JSON-compatible dicts and back.

Restoring goes through :class:`~routilux.serializable.RestoreContext`: routine
classes must already be defined in this process (or be registered with serilux, or
live in an allowed module), handlers resolve to methods of the restored routines,
and nothing a saved flow names is imported or called otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.connection import Connection
from routilux.error_handler import ErrorHandler
from routilux.errors import SerializationError
from routilux.routine import Routine
from routilux.serializable import MAX_DEPTH, RestoreContext

if TYPE_CHECKING:
    from routilux.flow.flow import Flow

FORMAT_VERSION = 2
#: Most routines and connections a saved flow may hold.
MAX_FLOW_ITEMS = 100_000


def serialize_flow(flow: Flow) -> dict[str, Any]:
    """Describes a flow's definition as a JSON-compatible dict."""
    handler = flow.error_handler
    return {
        "_type": "Flow",
        "format_version": FORMAT_VERSION,
        "flow_id": flow.flow_id,
        "execution_strategy": flow.execution_strategy,
        "max_workers": flow.max_workers,
        "execution_timeout": flow.execution_timeout,
        "track": flow.track,
        "error_handler": handler.serialize() if handler else None,
        "routines": {rid: r.serialize() for rid, r in flow.routines.items()},
        "connections": [c.serialize() for c in flow.connections],
    }


def deserialize_flow(flow: Flow, data: dict[str, Any]) -> None:
    """0.10 name of :func:`restore_flow` (no modules allowed)."""
    restore_flow(flow, data, ())


def _check_shape(data: Any) -> None:
    if not isinstance(data, dict):
        raise SerializationError("A serialized flow must be a dict from Flow.serialize().")
    routines, connections = data.get("routines"), data.get("connections")
    if not isinstance(routines, dict) or not isinstance(connections, list):
        raise SerializationError(
            "The data is not a serialized flow (no 'routines' dict or 'connections' list); "
            "pass the dict that Flow.serialize() returned."
        )
    if len(routines) + len(connections) > MAX_FLOW_ITEMS:
        raise SerializationError(
            f"The serialized flow has more than {MAX_FLOW_ITEMS} routines and connections; refused."
        )
    _check_depth(data, 0)


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SerializationError(f"The serialized flow is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def restore_flow(flow: Flow, data: dict[str, Any], allow_modules: tuple[str, ...] = ()) -> None:
    """Rebuilds a definition from :func:`serialize_flow` output into ``flow``.

    Args:
        flow: A flow with no routines (``Flow.deserialize`` clears it).
        data: The serialized definition.
        allow_modules: Modules whose functions and classes the data may name.

    Raises:
        UnsafeRestoreError: If the data names a class or callable not allowed.
        SerializationError: If the data is malformed.
    """
    _check_shape(data)
    ctx = RestoreContext(allow_modules=allow_modules)
    try:
        flow.flow_id = str(data.get("flow_id") or flow.flow_id)
        timeout = data.get("execution_timeout")
        flow.execution_timeout = float(timeout) if timeout is not None else None
        flow.track = bool(data.get("track", True))
        strategy = str(data.get("execution_strategy", "sequential"))
        flow.set_execution_strategy(strategy, int(data.get("max_workers") or 5))
        handler_data = data.get("error_handler")
        handler = None
        if isinstance(handler_data, dict):
            handler = ErrorHandler()
            handler._restore(handler_data, ctx)
        flow.set_error_handler(handler)
        routines: dict[str, tuple[Routine, dict[str, Any]]] = {}
        for routine_id, routine_data in data["routines"].items():
            routines[routine_id] = (_new_routine(str(routine_id), routine_data, ctx), routine_data)
        ctx.routines = {rid: pair[0] for rid, pair in routines.items()}
        for routine_id, (routine, routine_data) in routines.items():
            routine._restore(routine_data, ctx)
            flow.add_routine(routine, routine_id)
        for raw in data["connections"]:
            c = Connection()
            c._restore(raw, ctx)
            flow.connect(c.source_id, c.event, c.target_id, c.slot, c.param_mapping)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SerializationError(
            f"The data is not a serialized flow ({type(exc).__name__}: {exc}); pass the dict "
            "that Flow.serialize() returned."
        ) from exc


def _new_routine(routine_id: str, data: Any, ctx: RestoreContext) -> Routine:
    if not isinstance(data, dict):
        raise SerializationError(f"Routine {routine_id!r} of the saved flow is not a dict.")
    what = f"routine {routine_id!r}"
    cls = ctx.resolve_class(str(data.get("class") or data.get("_type")), what)
    if not issubclass(cls, Routine):
        raise SerializationError(
            f"{cls.__name__} ({what}) is not a Routine subclass; the saved data names another "
            "kind of object."
        )
    try:
        return cls()
    except TypeError as exc:
        raise SerializationError(
            f"{cls.__name__}() failed while restoring {what} ({exc}); routine classes must be "
            "constructible without arguments (use set_config for settings)."
        ) from exc
