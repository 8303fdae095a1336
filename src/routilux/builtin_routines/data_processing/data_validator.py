"""DataValidator: checks dict fields against rules and emits valid or invalid."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from routilux.routine import Routine

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BUILTIN: dict[str, Callable[[Any], bool]] = {
    "not_empty": lambda v: v not in (None, "", [], {}),
    "is_string": lambda v: isinstance(v, str),
    "is_int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "is_float": lambda v: isinstance(v, float),
    "is_number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "is_bool": lambda v: isinstance(v, bool),
    "is_dict": lambda v: isinstance(v, dict),
    "is_list": lambda v: isinstance(v, list),
    "is_positive": lambda v: isinstance(v, int | float) and v > 0,
    "is_email": lambda v: isinstance(v, str) and bool(_EMAIL.match(v)),
}


class DataValidator(Routine):
    """Validates a dict.

    Slot ``input`` (``data``); events ``valid`` (validated_data) and ``invalid``
    (errors, data). Config: ``rules`` (``{field: name, callable or [those]}``),
    ``required_fields`` ([]), ``allow_extra_fields`` (True), ``strict_mode`` (False:
    collect every error; True: stop at the first). Built-in rule names: not_empty,
    is_string, is_int, is_float, is_number, is_bool, is_dict, is_list, is_positive,
    is_email; add more with :meth:`register_validator`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(rules={}, strict_mode=False, required_fields=[], allow_extra_fields=True)
        self._validators: dict[str, Callable[[Any], bool]] = dict(_BUILTIN)
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.valid_event = self.define_event("valid", ["validated_data"])
        self.invalid_event = self.define_event("invalid", ["errors", "data"])

    def register_validator(self, name: str, func: Callable[[Any], bool]) -> None:
        """Adds (or replaces) a named rule ``func(value) -> bool``."""
        self._validators[name] = func

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        value = self._extract_input_data(data, **kwargs)
        errors = self.validate(value)
        if errors:
            self.emit("invalid", errors=errors, data=value)
        else:
            self.emit("valid", validated_data=value)

    def validate(self, value: Any) -> list[str]:
        """Returns the list of problems (empty when ``value`` is valid)."""
        if not isinstance(value, dict):
            return [f"Expected a dict, got {type(value).__name__}."]
        strict = bool(self.get_config("strict_mode", False))
        rules = self.get_config("rules") or {}
        errors: list[str] = []
        for field in self.get_config("required_fields") or []:
            if field not in value:
                errors.append(f"Required field {field!r} is missing.")
        if not self.get_config("allow_extra_fields", True):
            known = set(rules) | set(self.get_config("required_fields") or [])
            errors += [f"Field {k!r} is not allowed." for k in value if k not in known]
        for field, rule in rules.items():
            if strict and errors:
                break
            if field in value:
                errors += self._check(field, value[field], rule)
        return errors[:1] if strict else errors

    def _check(self, field: str, value: Any, rule: Any) -> list[str]:
        problems = []
        for item in rule if isinstance(rule, list) else [rule]:
            func = self._validators.get(item) if isinstance(item, str) else item
            if not callable(func):
                problems.append(f"Field {field!r}: unknown rule {item!r}.")
                continue
            try:
                ok = bool(func(value))
            except Exception as exc:
                ok = False
                item = f"{item} ({type(exc).__name__}: {exc})"
            if not ok:
                problems.append(f"Field {field!r} fails {getattr(item, '__name__', item)}.")
        return problems
