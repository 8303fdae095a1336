"""TextRenderer: renders dicts and lists as XML-like tags or Markdown."""

from __future__ import annotations

from typing import Any

from routilux.routine import Routine


class TextRenderer(Routine):
    """Renders structured data as text.

    Slot ``input`` (``data``); event ``output`` (rendered_text, original_type).
    Config: ``tag_format`` (``"xml"`` or ``"markdown"``), ``indent`` (``"  "``),
    ``include_type_hints`` (False: add ``type="..."`` to XML tags).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(tag_format="xml", indent="  ", include_type_hints=False)
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.output_event = self.define_event("output", ["rendered_text", "original_type"])

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        value = self._extract_input_data(data, **kwargs)
        self.emit("output", rendered_text=self.render(value), original_type=type(value).__name__)

    def render(self, value: Any, level: int = 0) -> str:
        """Renders ``value`` in the configured format."""
        if self.get_config("tag_format", "xml") == "markdown":
            return self._markdown(value, level)
        return self._xml(value, level)

    def _xml(self, value: Any, level: int) -> str:
        pad = str(self.get_config("indent", "  ")) * level
        hints = bool(self.get_config("include_type_hints", False))
        if isinstance(value, dict):
            parts = []
            for key, item in value.items():
                attr = f' type="{type(item).__name__}"' if hints else ""
                if isinstance(item, dict | list):
                    inner = self._xml(item, level + 1)
                    parts.append(f"{pad}<{key}{attr}>\n{inner}\n{pad}</{key}>")
                else:
                    parts.append(f"{pad}<{key}{attr}>{item}</{key}>")
            return "\n".join(parts)
        if isinstance(value, list):
            return "\n".join(self._xml({"item": item}, level) for item in value)
        return f"{pad}{value}"

    def _markdown(self, value: Any, level: int) -> str:
        pad = "  " * level
        if isinstance(value, dict):
            lines = []
            for key, item in value.items():
                if isinstance(item, dict | list):
                    lines.append(f"{pad}- **{key}**:\n{self._markdown(item, level + 1)}")
                else:
                    lines.append(f"{pad}- **{key}**: {item}")
            return "\n".join(lines)
        if isinstance(value, list):
            return "\n".join(
                f"{pad}-\n{self._markdown(i, level + 1)}" if isinstance(i, dict | list)
                else f"{pad}- {i}" for i in value
            )  # fmt: skip
        return f"{pad}{value}"
