"""DataValidator, per the reference."""

from __future__ import annotations

from routilux_builtin_kit import run_builtin

from routilux import DataValidator


def test_defaults_and_events() -> None:
    validator = DataValidator()
    assert validator.config() == {
        "rules": {}, "strict_mode": False, "required_fields": [], "allow_extra_fields": True
    }  # fmt: skip
    assert list(validator.slots) == ["input"] and list(validator.events) == ["valid", "invalid"]


def test_valid_and_invalid_routes() -> None:
    validator = DataValidator()
    validator.set_config(rules={"email": "is_email", "age": ["is_int", "is_positive"]},
                         required_fields=["email"])  # fmt: skip
    good = run_builtin(validator, "input", data={"email": "a@b.co", "age": 3})
    assert good["valid"] == [{"validated_data": {"email": "a@b.co", "age": 3}}]
    assert good["invalid"] == []
    validator = DataValidator()
    validator.set_config(rules={"age": "is_positive"}, required_fields=["email"],
                         allow_extra_fields=False)  # fmt: skip
    bad = run_builtin(validator, "input", data={"age": -1, "x": 1})
    errors = bad["invalid"][0]["errors"]
    assert "Required field 'email' is missing." in errors
    assert "Field 'x' is not allowed." in errors and "Field 'age' fails is_positive." in errors
    validator.set_config(strict_mode=True)
    assert len(validator.validate({"age": -1, "x": 1})) == 1
    validator.register_validator("even", lambda v: v % 2 == 0)
    validator.set_config(rules={"age": "even"}, required_fields=[], allow_extra_fields=True,
                         strict_mode=False)  # fmt: skip
    assert validator.validate({"age": 3}) == ["Field 'age' fails even."]
