"""TextRenderer, per the reference."""

from __future__ import annotations

from routilux_builtin_kit import run_builtin

from routilux import TextRenderer


def test_defaults() -> None:
    renderer = TextRenderer()
    assert renderer.config() == {"tag_format": "xml", "indent": "  ", "include_type_hints": False}
    assert list(renderer.slots) == ["input"] and list(renderer.events) == ["output"]


def test_xml_and_markdown() -> None:
    out = run_builtin(TextRenderer(), "input", data={"name": "ada", "tags": {"a": 1}})["output"][0]
    assert out["original_type"] == "dict"
    assert out["rendered_text"] == "<name>ada</name>\n<tags>\n  <a>1</a>\n</tags>"
    renderer = TextRenderer()
    renderer.set_config(tag_format="markdown")
    text = run_builtin(renderer, "input", data={"name": "ada"})["output"][0]["rendered_text"]
    assert text == "- **name**: ada"
    hinted = TextRenderer()
    hinted.set_config(include_type_hints=True)
    assert hinted.render({"n": 1}) == '<n type="int">1</n>'
