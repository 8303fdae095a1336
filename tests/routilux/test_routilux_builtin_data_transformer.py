"""DataTransformer, per the reference."""

from __future__ import annotations

from routilux_builtin_kit import run_builtin

from routilux import DataTransformer


def test_defaults_and_transformations() -> None:
    transformer = DataTransformer()
    assert transformer.config() == {
        "transformations": [], "transformation_map": {}, "chain_transformations": True
    }  # fmt: skip
    transformer.set_config(transformations=["strip_whitespace", "uppercase"])
    out = run_builtin(transformer, "input", data="  hi ")["output"][0]
    assert out == {"transformed_data": "HI", "transformation_applied": ["strip_whitespace", "uppercase"],
                   "errors": []}  # fmt: skip


def test_field_map_custom_and_errors() -> None:
    transformer = DataTransformer()
    transformer.register_transformation("double", lambda v: v * 2)
    transformer.set_config(transformation_map={"n": ["to_int", "double"], "s": "nope"})
    result, applied, errors = transformer.transform({"n": "21", "s": "x"})
    assert result == {"n": 42, "s": "x"} and applied == ["n:to_int", "n:double"]
    assert errors == ["Unknown transformation 'nope'."]
    transformer.set_config(transformations=["to_int"], transformation_map={})
    result, _, errors = transformer.transform("abc")
    assert result == "abc" and "ValueError" in errors[0]
