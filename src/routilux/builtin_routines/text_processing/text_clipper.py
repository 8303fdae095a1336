"""TextClipper: shortens long text line by line, keeping tracebacks whole."""

from __future__ import annotations

from typing import Any

from routilux.routine import Routine

_TRACEBACK = "Traceback (most recent call last)"


class TextClipper(Routine):
    """Clips text to ``max_length`` characters at a line boundary.

    Slot ``input`` (``text``, or any value, turned into text); event ``output``
    (clipped_text, was_clipped, original_length). Config: ``max_length`` (1000),
    ``preserve_tracebacks`` (True: text holding a Python traceback is not clipped),
    ``truncation_message`` (appended, ``{remaining}`` = lines cut).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            max_length=1000,
            preserve_tracebacks=True,
            truncation_message="\n...({remaining} more lines truncated)",
        )
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.output_event = self.define_event(
            "output", ["clipped_text", "was_clipped", "original_length"]
        )

    def _handle_input(self, text: Any = None, **kwargs: Any) -> None:
        value = text if text is not None else self._extract_input_data(None, **kwargs)
        content = value if isinstance(value, str) else str(value)
        clipped, was_clipped = self.clip(content)
        self.emit(
            "output", clipped_text=clipped, was_clipped=was_clipped, original_length=len(content)
        )

    def clip(self, text: str) -> tuple[str, bool]:
        """Returns ``(clipped_text, was_clipped)``."""
        limit = int(self.get_config("max_length", 1000))
        if len(text) <= limit or (
            self.get_config("preserve_tracebacks", True) and _TRACEBACK in text
        ):
            return text, False
        lines = text.splitlines(keepends=True)
        kept: list[str] = []
        size = 0
        for line in lines:
            if size + len(line) > limit:
                break
            kept.append(line)
            size += len(line)
        if not kept:
            kept = [lines[0][:limit]]
        message = str(self.get_config("truncation_message", "")).format(
            remaining=len(lines) - len(kept)
        )
        return "".join(kept).rstrip("\n") + message, True
