"""TextClipper, per the reference: slot input, event output, config defaults."""

from __future__ import annotations

from routilux_builtin_kit import run_builtin

from routilux import TextClipper


def test_defaults_slot_and_event() -> None:
    clipper = TextClipper()
    assert clipper.get_config("max_length") == 1000
    assert clipper.get_config("preserve_tracebacks") is True
    assert "{remaining}" in clipper.get_config("truncation_message")
    assert list(clipper.slots) == ["input"] and list(clipper.events) == ["output"]


def test_clips_long_text_by_lines_and_keeps_short_text() -> None:
    clipper = TextClipper()
    clipper.set_config(max_length=12, truncation_message="[+{remaining}]")
    out = run_builtin(clipper, "input", text="line one\nline two\nline three")["output"][0]
    assert out == {"clipped_text": "line one[+2]", "was_clipped": True, "original_length": 28}
    short = run_builtin(TextClipper(), "input", text="hi")["output"][0]
    assert short["clipped_text"] == "hi" and not short["was_clipped"]


def test_tracebacks_are_preserved() -> None:
    clipper = TextClipper()
    clipper.set_config(max_length=10)
    text = "Traceback (most recent call last):\n  File x\nValueError: bad"
    assert run_builtin(clipper, "input", text=text)["output"][0]["was_clipped"] is False
