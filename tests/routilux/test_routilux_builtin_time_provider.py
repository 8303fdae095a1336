"""TimeProvider, per the reference."""

from __future__ import annotations

from datetime import datetime

from routilux_builtin_kit import run_builtin

from routilux import TimeProvider


def test_defaults_slot_and_formats() -> None:
    provider = TimeProvider()
    assert provider.get_config("format") == "iso"
    assert provider.get_config("custom_format") == "%Y-%m-%d %H:%M:%S"
    assert provider.get_config("include_weekday") is True
    assert list(provider.slots) == ["request"] and list(provider.events) == ["output"]
    out = run_builtin(TimeProvider(), "request")["output"][0]
    assert set(out) == {"time_string", "timestamp", "datetime", "formatted"}
    datetime.fromisoformat(out["time_string"])
    moment = datetime(2024, 1, 2, 3, 4, 5)
    provider.set_config(format="custom", custom_format="%Y/%m/%d")
    assert provider.format_time(moment) == "2024/01/02"
    provider.set_config(format="readable")
    assert provider.format_time(moment).startswith("Tuesday, January 02, 2024")
    provider.set_config(format="timestamp")
    assert float(provider.format_time(moment)) == moment.timestamp()
