"""DataTransformer: applies named transformations to data or to fields of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from routilux.routine import Routine


def _on_strings(func: Callable[[str], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if isinstance(value, str):
            return func(value)
        if isinstance(value, dict):
            return {k: apply(v) for k, v in value.items()}
        if isinstance(value, list):
            return [apply(v) for v in value]
        return value

    return apply


_BUILTIN: dict[str, Callable[[Any], Any]] = {
    "lowercase": _on_strings(str.lower),
    "uppercase": _on_strings(str.upper),
    "strip_whitespace": _on_strings(str.strip),
    "to_string": str,
    "to_int": int,
    "to_float": float,
    "remove_none": lambda v: {k: x for k, x in v.items() if x is not None}
    if isinstance(v, dict) else v,
}  # fmt: skip


class DataTransformer(Routine):
    """Transforms data.

    Slot ``input`` (``data``); event ``output`` (transformed_data,
    transformation_applied, errors). Config: ``transformations`` (names applied to
    the whole value, in order), ``transformation_map`` (``{field: name or [names]}``
    for dict fields), ``chain_transformations`` (True: each step gets the previous
    result; False: each step gets the input and the last result wins). Built-in
    names: lowercase, uppercase, strip_whitespace, to_string, to_int, to_float,
    remove_none; add more with :meth:`register_transformation`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(transformations=[], transformation_map={}, chain_transformations=True)
        self._transformations: dict[str, Callable[[Any], Any]] = dict(_BUILTIN)
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.output_event = self.define_event(
            "output", ["transformed_data", "transformation_applied", "errors"]
        )

    def register_transformation(self, name: str, func: Callable[[Any], Any]) -> None:
        """Adds (or replaces) a named transformation ``func(value) -> value``."""
        self._transformations[name] = func

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        value = self._extract_input_data(data, **kwargs)
        result, applied, errors = self.transform(value)
        self.emit("output", transformed_data=result, transformation_applied=applied, errors=errors)

    def transform(self, value: Any) -> tuple[Any, list[str], list[str]]:
        """Returns ``(result, names_applied, errors)``; a failing step is skipped."""
        applied: list[str] = []
        errors: list[str] = []
        chain = bool(self.get_config("chain_transformations", True))
        result = value
        for name in self.get_config("transformations") or []:
            source = result if chain else value
            result = self._apply(name, source, result, applied, errors)
        mapping = self.get_config("transformation_map") or {}
        if isinstance(result, dict) and mapping:
            result = dict(result)
            for field, names in mapping.items():
                if field not in result:
                    continue
                for name in [names] if isinstance(names, str) else list(names):
                    result[field] = self._apply(name, result[field], result[field], applied, errors,
                                                f"{field}:")  # fmt: skip
        return result, applied, errors

    def _apply(
        self, name: str, value: Any, fallback: Any, applied: list[str], errors: list[str],
        label: str = "",
    ) -> Any:  # fmt: skip
        func = self._transformations.get(name)
        if func is None:
            errors.append(f"Unknown transformation {name!r}.")
            return fallback
        try:
            out = func(value)
        except Exception as exc:
            errors.append(f"{label}{name}: {type(exc).__name__}: {exc}")
            return fallback
        applied.append(f"{label}{name}")
        return out
