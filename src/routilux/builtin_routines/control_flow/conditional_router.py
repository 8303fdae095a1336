"""ConditionalRouter: sends each input to the routes whose condition it meets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from routilux.builtin_routines.control_flow.conditions import (
    check_expression,
    dump_condition,
    load_condition,
    matches,
)
from routilux.errors import DefinitionError, SerializationError
from routilux.routine import Routine
from routilux.serializable import RestoreContext

logger = logging.getLogger("routilux.builtin_routines.conditional_router")

Condition = Callable[..., Any] | dict[str, Any] | str


class ConditionalRouter(Routine):
    """Routes data by conditions.

    Slot ``input``; event ``output`` (data, route) for unmatched data without a
    ``default_route``, plus one event per route name (data, route).

    Config: ``routes`` — a list of ``(name, condition)``; a condition is a callable
    (``f(data)`` or ``f(data, config)``), a dict of field matches (values may be
    predicates) or an expression string such as
    ``"data.get('value', 0) > config.get('threshold', 0)"``, evaluated by ruvon's safe
    evaluator over plain data. ``default_route`` (None) and ``route_priority``
    (``"first_match"`` or ``"all_matches"``). A condition that raises counts as no
    match (logged).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(routes=[], default_route=None, route_priority="first_match")
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.default_output = self.define_event("output", ["data", "route"])

    def set_config(self, **kwargs: Any) -> None:
        """Stores config; new route names (and ``default_route``) get their events."""
        for name, condition in kwargs.get("routes") or []:
            if isinstance(condition, str):
                check_expression(condition, name)
        super().set_config(**kwargs)
        names = [name for name, _ in kwargs.get("routes") or []]
        if kwargs.get("default_route"):
            names.append(kwargs["default_route"])
        for name in names:
            if self.get_event(name) is None:
                self.define_event(name, ["data", "route"])

    def add_route(self, route_name: str, condition: Condition) -> None:
        """Appends a route (and defines its event).

        Raises:
            DefinitionError: If a string condition does not parse.
        """
        if not (callable(condition) or isinstance(condition, dict | str)):
            raise DefinitionError(
                f"The condition of route {route_name!r} must be a callable, a dict of field "
                f"matches or an expression string, not {type(condition).__name__}."
            )
        routes = list(self.get_config("routes") or [])
        routes.append((route_name, condition))
        self.set_config(routes=routes)

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        data = self._extract_input_data(data, **kwargs)
        config = {k: v for k, v in self.config().items() if k != "routes"}
        first_only = self.get_config("route_priority", "first_match") == "first_match"
        matched: list[str] = []
        for name, condition in self.get_config("routes") or []:
            try:
                hit = matches(condition, data, config)
            except Exception as exc:
                logger.warning("Condition of route %r failed (%s); no match.", name, exc)
                hit = False
            if hit:
                matched.append(name)
                if first_only:
                    break
        default = self.get_config("default_route")
        if not matched and default:
            matched = [default]
        if not matched:
            self.emit("output", data=data, route="unmatched")
        for name in matched:
            self.emit(name, data=data, route=name)

    def serialize(self) -> dict[str, Any]:
        """Saves the routes with lambdas as their expression text (re-parsed on load)."""
        routes = self.get_config("routes") or []
        saved = [[name, dump_condition(cond, name, self)] for name, cond in routes]
        with self._config_lock:
            stash = self._config.pop("routes", None)
        try:
            data = super().serialize()
        finally:
            with self._config_lock:
                self._config["routes"] = stash
        data["_config"]["routes"] = saved
        return data

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        data = dict(data)
        config = dict(data.get("_config") or {})
        saved = config.pop("routes", [])
        data["_config"] = config
        super()._restore(data, ctx)
        if not isinstance(saved, list):
            raise SerializationError("The saved routes of a ConditionalRouter are not a list.")
        routes = []
        for entry in saved:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise SerializationError(f"A saved route is malformed: {entry!r}.")
            name = str(entry[0])
            routes.append((name, load_condition(entry[1], name, ctx.for_owner(self))))
        self.set_config(routes=routes)
