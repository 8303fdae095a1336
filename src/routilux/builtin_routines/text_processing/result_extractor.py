"""ResultExtractor: pulls structured results out of text (JSON, code, YAML blocks)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

import yaml

from routilux.routine import Routine

Extraction = tuple[Any, str, dict[str, Any]]
_BLOCK = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)
#: Largest text parsed as JSON or YAML (bigger inputs are returned as text).
MAX_PARSE_CHARS = 10_000_000


class ExtractorProtocol(Protocol):
    """A custom extractor: returns ``(result, format, metadata)`` or None."""

    def extract(self, data: Any, config: dict[str, Any]) -> Extraction | None:
        """Tries to extract a result from ``data``."""


class ResultExtractor(Routine):
    """Extracts a result from text or structured data.

    Slot ``input`` (``data``); event ``output`` (extracted_result, format, metadata,
    confidence, extraction_path). Config: ``strategy`` ("auto"), ``extractor_priority``
    (names of registered extractors to try first), ``extract_json_blocks``,
    ``extract_code_blocks`` (True), ``extract_yaml_blocks``, ``extract_xml_blocks``
    (False), ``code_block_languages`` (None = any), ``format_interpreter_output``
    and ``parse_json_strings`` (True). YAML is read with ``yaml.safe_load``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            strategy="auto",
            extractor_priority=[],
            extract_json_blocks=True,
            extract_code_blocks=True,
            extract_yaml_blocks=False,
            extract_xml_blocks=False,
            code_block_languages=None,
            format_interpreter_output=True,
            parse_json_strings=True,
        )
        self._extractors: dict[str, Callable[[Any, dict[str, Any]], Extraction | None]] = {}
        self.input_slot = self.define_slot("input", handler=self._handle_input)
        self.output_event = self.define_event(
            "output", ["extracted_result", "format", "metadata", "confidence", "extraction_path"]
        )

    def register_extractor(
        self, name: str, extractor: Callable[[Any, dict[str, Any]], Extraction | None]
    ) -> None:
        """Adds a custom extractor (tried first, in ``extractor_priority`` order)."""
        self._extractors[name] = extractor

    def _handle_input(self, data: Any = None, **kwargs: Any) -> None:
        value = self._extract_input_data(data, **kwargs)
        result, fmt, meta, confidence, path = self.extract(value)
        self.emit(
            "output", extracted_result=result, format=fmt, metadata=meta,
            confidence=confidence, extraction_path=path,
        )  # fmt: skip

    def extract(self, value: Any) -> tuple[Any, str, dict[str, Any], float, list[str]]:
        """Returns ``(result, format, metadata, confidence, extraction_path)``."""
        config = self.config()
        order = [n for n in config.get("extractor_priority") or [] if n in self._extractors]
        order += [n for n in self._extractors if n not in order]
        for name in order:
            found = self._extractors[name](value, config)
            if found is not None:
                return found[0], found[1], found[2], 1.0, [f"custom:{name}"]
        if isinstance(value, dict | list):
            return value, type(value).__name__, {}, 1.0, ["structured"]
        if not isinstance(value, str):
            return value, type(value).__name__, {}, 1.0, ["passthrough"]
        return self._from_text(value, config)

    def _from_text(
        self, text: str, config: dict[str, Any]
    ) -> tuple[Any, str, dict[str, Any], float, list[str]]:
        languages = config.get("code_block_languages")
        parseable = len(text) <= MAX_PARSE_CHARS
        for lang, body in _BLOCK.findall(text) if parseable else []:
            lang = lang.lower()
            if lang == "json" and config.get("extract_json_blocks", True):
                try:
                    return json.loads(body), "json", {"language": lang}, 0.95, ["json_block"]
                except ValueError:
                    pass
            if lang in ("yaml", "yml") and config.get("extract_yaml_blocks", False):
                try:
                    return yaml.safe_load(body), "yaml", {"language": lang}, 0.9, ["yaml_block"]
                except yaml.YAMLError:
                    pass
            if config.get("extract_code_blocks", True) and (not languages or lang in languages):
                meta = {"language": lang or "text"}
                return body.rstrip("\n"), "code", meta, 0.8, ["code_block"]
        if parseable and config.get("parse_json_strings", True):
            stripped = text.strip()
            if stripped[:1] in "[{":
                try:
                    return json.loads(stripped), "json", {}, 0.9, ["json_string"]
                except ValueError:
                    pass
        return text, "text", {}, 0.5, ["text"]
