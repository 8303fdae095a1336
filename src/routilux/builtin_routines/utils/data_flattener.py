"""DataFlattener: turns nested dicts into one level of dotted keys."""

from __future__ import annotations

from typing import Any

from routilux.routine import Routine


class DataFlattener(Routine):
    """Flattens nested data.

    Slot ``input`` (``data``); event ``output`` (flattened_data, original_type, depth).
    Config: ``separator`` ("."), ``preserve_lists`` (True: lists stay values; False:
    items get index keys), ``max_depth`` (100: deeper values are kept as they are).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(separator=".", preserve_lists=True, max_depth=100)
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.output_event = self.define_event(
            "output", ["flattened_data", "original_type", "depth"]
        )

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        value = self._extract_input_data(data, **kwargs)
        flat, depth = self.flatten(value)
        self.emit("output", flattened_data=flat, original_type=type(value).__name__, depth=depth)

    def flatten(self, value: Any) -> tuple[dict[str, Any], int]:
        """Returns ``(flat_dict, depth_reached)``; a scalar becomes ``{"value": it}``."""
        if not isinstance(value, dict | list):
            return {"value": value}, 0
        out: dict[str, Any] = {}
        depth = self._walk(value, "", 0, out)
        return out, depth

    def _walk(self, value: Any, prefix: str, level: int, out: dict[str, Any]) -> int:
        sep = str(self.get_config("separator", "."))
        keep_lists = bool(self.get_config("preserve_lists", True))
        if level >= int(self.get_config("max_depth", 100)):
            out[prefix or "value"] = value
            return level
        if isinstance(value, dict):
            items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list) and not (keep_lists and prefix):
            items = [(str(i), v) for i, v in enumerate(value)]
        else:
            out[prefix or "value"] = value
            return level
        deepest = level
        for key, item in items:
            name = f"{prefix}{sep}{key}" if prefix else key
            if (isinstance(item, dict) and item) or (isinstance(item, list) and not keep_lists):
                deepest = max(deepest, self._walk(item, name, level + 1, out))
            else:
                out[name] = item
                deepest = max(deepest, level + 1)
        return deepest
