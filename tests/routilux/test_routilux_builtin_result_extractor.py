"""ResultExtractor, per the reference."""

from __future__ import annotations

from typing import Any

from routilux_builtin_kit import run_builtin

from routilux import ResultExtractor


def test_defaults_and_events() -> None:
    extractor = ResultExtractor()
    assert extractor.get_config("strategy") == "auto"
    assert extractor.get_config("extract_json_blocks") is True
    assert extractor.get_config("extract_yaml_blocks") is False
    assert list(extractor.slots) == ["input"] and list(extractor.events) == ["output"]


def test_json_block_code_block_json_string_and_text() -> None:
    text = 'Result:\n```json\n{"a": 1}\n```\n'
    out = run_builtin(ResultExtractor(), "input", data=text)["output"][0]
    assert (out["extracted_result"], out["format"]) == ({"a": 1}, "json")
    assert out["extraction_path"] == ["json_block"] and out["confidence"] > 0.9
    code = ResultExtractor().extract("```python\nprint(1)\n```")
    assert code[:3] == ("print(1)", "code", {"language": "python"})
    assert ResultExtractor().extract("[1, 2]")[:2] == ([1, 2], "json")
    assert ResultExtractor().extract("plain words")[:2] == ("plain words", "text")
    assert ResultExtractor().extract({"k": 1})[:2] == ({"k": 1}, "dict")


def test_yaml_blocks_use_safe_load_and_custom_extractors_go_first() -> None:
    extractor = ResultExtractor()
    extractor.set_config(extract_yaml_blocks=True)
    assert extractor.extract("```yaml\na: 1\n```")[:2] == ({"a": 1}, "yaml")
    unsafe = "```yaml\n!!python/object/apply:os.system ['echo hacked']\n```"
    assert extractor.extract(unsafe)[1] == "code"  # refused by safe_load, kept as text

    def upper(data: Any, config: dict[str, Any]) -> Any:
        return (data.upper(), "upper", {}) if isinstance(data, str) else None

    extractor.register_extractor("upper", upper)
    assert extractor.extract("abc")[:2] == ("ABC", "upper")
