"""DataFlattener, per the reference."""

from __future__ import annotations

from routilux_builtin_kit import run_builtin

from routilux import DataFlattener


def test_defaults_and_flattening() -> None:
    flattener = DataFlattener()
    assert flattener.config() == {"separator": ".", "preserve_lists": True, "max_depth": 100}
    data = {"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2]}
    out = run_builtin(DataFlattener(), "input", data=data)["output"][0]
    assert out["flattened_data"] == {"a.b": 1, "a.c.d": 2, "l": [1, 2]}
    assert out["original_type"] == "dict" and out["depth"] == 3
    flattener.set_config(separator="/", preserve_lists=False)
    assert flattener.flatten({"l": [1, {"x": 2}]})[0] == {"l/0": 1, "l/1/x": 2}
    flattener.set_config(max_depth=1, separator=".")
    assert flattener.flatten({"a": {"b": {"c": 1}}})[0] == {"a": {"b": {"c": 1}}}
