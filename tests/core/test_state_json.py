"""ruvon.state_json: pydantic's dump and validators, looked up once per complete model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from ruvon.state_json import dump_json, trusts_dump, validate_state, validator_of


class Plain(BaseModel):
    n: int = 0
    when: Any = None


class DumpsItself(Plain):
    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return {"own": True}


class ValidatesItself(Plain):
    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> ValidatesItself:  # type: ignore[override]
        return super().model_validate({**obj, "n": 7})


class Later(BaseModel):
    child: Child | None = None  # defined below: incomplete until model_rebuild()


def test_dump_and_validate_follow_overrides_and_pydantic_otherwise() -> None:
    for _ in range(2):  # the second call takes the cached path
        assert dump_json(Plain(n=2)) == {"n": 2, "when": None}
        assert dump_json(DumpsItself()) == {"own": True}
        assert validate_state(Plain, {"n": "3"}).n == 3
        assert validate_state(ValidatesItself, {"n": 1}).n == 7
    assert trusts_dump(Plain) and not trusts_dump(DumpsItself)
    with pytest.raises(ValidationError):
        validate_state(Plain, {"n": "x"})


class Child(BaseModel):
    name: str = ""


def test_a_model_completed_later_is_served_by_its_final_validator() -> None:
    Later.model_rebuild()
    assert validator_of(Later) is Later.__pydantic_validator__
    made = validate_state(Later, {"child": {"name": "c"}})
    assert made.child is not None and made.child.name == "c"
    assert dump_json(made) == {"child": {"name": "c"}}


def test_an_incomplete_model_is_not_cached() -> None:
    from ruvon import state_json

    class Pending(BaseModel):
        x: Undefined | None = None  # type: ignore[name-defined]  # noqa: F821

    assert not Pending.__pydantic_complete__
    validator_of(Pending)
    assert Pending not in state_json._VALIDATORS
