"""Turning flow definitions into JSON-compatible dicts and back.

Routine classes, plain-function handlers, merge functions and retryable exception
classes are stored by import path; handlers that are methods of their routine by
method name. Rebuilding a routine calls its class with no arguments, so the slots
and events its ``__init__`` defines come back by themselves; slots defined later
are re-created from the stored description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.connection import Connection
from routilux.error_handler import ErrorHandler
from routilux.errors import SerializationError
from routilux.import_path import import_object, import_path_of
from routilux.routine import Routine
from routilux.slot import Slot

if TYPE_CHECKING:
    from routilux.flow import Flow

FORMAT_VERSION = 1


def serialize_flow(flow: Flow) -> dict[str, Any]:
    """Describes a flow's definition as a JSON-compatible dict."""
    handler = flow.error_handler
    return {
        "format_version": FORMAT_VERSION,
        "flow_id": flow.flow_id,
        "execution_strategy": flow.execution_strategy,
        "max_workers": flow.max_workers,
        "execution_timeout": flow.execution_timeout,
        "error_handler": handler.to_dict() if handler else None,
        "routines": {rid: serialize_routine(r) for rid, r in flow.routines.items()},
        "connections": [c.to_dict() for c in flow.connections],
    }


def serialize_routine(routine: Routine) -> dict[str, Any]:
    """Describes one routine: class, config, slots, events and error handler."""
    handler = routine.get_error_handler()
    return {
        "class": import_path_of(type(routine)),
        "config": routine.config,
        "error_handler": handler.to_dict() if handler else None,
        "slots": {name: _serialize_slot(routine, slot) for name, slot in routine.slots.items()},
        "events": {name: event.output_params for name, event in routine.events.items()},
    }


def _serialize_slot(routine: Routine, slot: Slot) -> dict[str, Any]:
    strategy: Any = slot.merge_strategy
    if callable(strategy):
        strategy = {"function": _path_or_none(strategy)}
    handler: dict[str, Any] | None = None
    if slot.handler is not None:
        if getattr(slot.handler, "__self__", None) is routine:
            handler = {"method": slot.handler.__name__}
        else:
            handler = {"function": _path_or_none(slot.handler)}
    return {"handler": handler, "merge_strategy": strategy}


def _path_or_none(obj: Any) -> str | None:
    """An import path, or None for a lambda/closure (re-created by ``__init__`` only)."""
    try:
        return import_path_of(obj)
    except SerializationError:
        return None


def restore_flow(flow: Flow, data: dict[str, Any]) -> None:
    """Rebuilds a definition from :func:`serialize_flow` output into ``flow``.

    Args:
        flow: A flow with no routines (``Flow.deserialize`` clears it).
        data: The serialized definition.

    Raises:
        SerializationError: If the data is malformed or something cannot be imported.
    """
    try:
        flow.flow_id = data["flow_id"]
        flow.execution_timeout = data.get("execution_timeout")
        flow.set_execution_strategy(data["execution_strategy"], int(data["max_workers"]))
        handler = data.get("error_handler")
        flow.set_error_handler(ErrorHandler.from_dict(handler) if handler else None)
        for routine_id, routine_data in data["routines"].items():
            flow.add_routine(restore_routine(routine_id, routine_data), routine_id)
        for connection in data["connections"]:
            c = Connection.from_dict(connection)
            flow.connect(c.source_id, c.event, c.target_id, c.slot, c.param_mapping)
    except (KeyError, TypeError) as exc:
        raise SerializationError(
            f"The data is not a serialized flow ({type(exc).__name__}: {exc}); pass the dict "
            "that Flow.serialize() returned."
        ) from exc


def restore_routine(routine_id: str, data: dict[str, Any]) -> Routine:
    """Rebuilds one routine from :func:`serialize_routine` output.

    Raises:
        SerializationError: If its class cannot be imported, is not a Routine, or one
            of its slots cannot be re-created.
    """
    cls = import_object(data["class"])
    if not (isinstance(cls, type) and issubclass(cls, Routine)):
        raise SerializationError(
            f"{data['class']!r} (routine {routine_id!r}) is not a Routine subclass; the "
            "serialized data names a different object."
        )
    try:
        routine = cls()
    except TypeError as exc:
        raise SerializationError(
            f"{cls.__name__}() failed while restoring routine {routine_id!r} ({exc}); routine "
            "classes must be constructible without arguments (use set_config for settings)."
        ) from exc
    routine.set_config(**data.get("config", {}))
    handler = data.get("error_handler")
    if handler:
        routine.set_error_handler(ErrorHandler.from_dict(handler))
    existing_slots, existing_events = routine.slots, routine.events
    for name, slot_data in data.get("slots", {}).items():
        if name not in existing_slots:
            _restore_slot(routine, routine_id, name, slot_data)
        else:
            # __init__ re-created the slot; keep a merge strategy changed since then.
            stored = slot_data.get("merge_strategy", "override")
            if isinstance(stored, str):
                existing_slots[name].merge_strategy = stored
            elif stored.get("function"):
                existing_slots[name].merge_strategy = import_object(stored["function"])
    for name, params in data.get("events", {}).items():
        if name not in existing_events:
            routine.define_event(name, params)
    return routine


def _restore_slot(routine: Routine, routine_id: str, name: str, data: dict[str, Any]) -> None:
    handler_data = data.get("handler")
    handler = None
    if handler_data is not None:
        if "method" in handler_data:
            handler = getattr(routine, handler_data["method"], None)
        elif handler_data.get("function"):
            handler = import_object(handler_data["function"])
        if handler is None:
            raise SerializationError(
                f"The handler of slot {name!r} of routine {routine_id!r} cannot be restored; "
                "define the slot in the routine's __init__ or use a method or module-level "
                "function as its handler."
            )
    strategy = data.get("merge_strategy", "override")
    if isinstance(strategy, dict):
        path = strategy.get("function")
        if not path:
            raise SerializationError(
                f"The merge function of slot {name!r} of routine {routine_id!r} is a lambda or "
                "closure; define the slot in __init__ or use a module-level function."
            )
        strategy = import_object(path)
    routine.define_slot(name, handler, strategy)
