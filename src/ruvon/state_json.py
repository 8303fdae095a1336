"""The state model as JSON data, on the per-step hot path.

``model.model_dump(mode="json")`` passes a dozen keyword arguments through Python before pydantic's
serializer runs; for the small states of most workflows that wrapper costs more than the
serialization. :func:`dump_json` calls the serializer directly, unless the model overrides
``model_dump`` (then that override runs, as before).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from pydantic_core import SchemaSerializer, SchemaValidator

M = TypeVar("M", bound=BaseModel)

_BASE_DUMP = BaseModel.model_dump
_BASE_VALIDATE = BaseModel.model_validate.__func__  # type: ignore[attr-defined]


def dump_json(state: BaseModel) -> dict[str, Any]:
    """``state.model_dump(mode="json")``, without the wrapper when the model does not override it."""
    return dump_fresh(state)[0]


def dump_fresh(state: BaseModel) -> tuple[dict[str, Any], bool]:
    """:func:`dump_json`, and whether the dump is fresh JSON data that nothing else holds
    (pydantic's own dump; an override of ``model_dump`` may return a dict it keeps)."""
    serializer = _SERIALIZERS.get(type(state))
    if serializer is not None:  # every save after the first of a model
        return serializer.to_python(state, mode="json"), True
    kind = type(state)
    if trusts_dump(kind):
        serializer = kind.__pydantic_serializer__
        if kind.__pydantic_complete__:  # a model waiting for model_rebuild() is not kept
            _SERIALIZERS[kind] = serializer
        return serializer.to_python(state, mode="json"), True
    return state.model_dump(mode="json"), False


def validator_of(model: type[BaseModel]) -> SchemaValidator:
    """``model.__pydantic_validator__``, looked up once per complete model (every step)."""
    found = _VALIDATORS.get(model)
    if found is not None:
        return found
    validator = cast(SchemaValidator, model.__pydantic_validator__)
    if model.__pydantic_complete__:
        _VALIDATORS[model] = validator
    return validator


# Caches by model class. Any attribute of a pydantic model class costs ~1k instructions to look
# up (its metaclass has a __getattr__, which takes CPython off its fast path): `model_dump`,
# `__pydantic_serializer__` and `__pydantic_validator__` would cost that on every save and step.
# A dict lookup by class costs a tenth.
_TRUSTED: dict[type[BaseModel], bool] = {}
_SERIALIZERS: dict[type[BaseModel], SchemaSerializer] = {}
_VALIDATORS: dict[type[BaseModel], SchemaValidator] = {}
_PLAIN_VALIDATE: dict[type[BaseModel], bool] = {}


def validate_state(model: type[M], data: Any) -> M:
    """``model.model_validate(data)``, without the wrapper's keyword arguments when the model does
    not override it (every workflow created)."""
    plain = _PLAIN_VALIDATE.get(model)
    if plain is None:
        plain = _PLAIN_VALIDATE[model] = (
            model.model_validate.__func__ is _BASE_VALIDATE  # type: ignore[attr-defined]
        )
    if plain:
        made: M = validator_of(model).validate_python(data)
        return made
    return model.model_validate(data)


class NotJson(Exception):
    """A value that is not JSON data (the SQL stores could not save it either)."""


_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """Deep copy of JSON data (dicts, lists, scalars); faster than ``copy.deepcopy`` for it.

    Raises:
        NotJson: ``value`` holds something else.
    """
    kind = type(value)
    if kind is dict:  # the common cases first, by exact type (no isinstance chains)
        copy = value.copy()
        for key, item in value.items():
            if type(item) not in _SCALARS:
                copy[key] = copy_json(item)
        return copy
    if kind in _SCALARS or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(item) for item in value]
    raise NotJson


def copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a saved state: :func:`copy_json`, or ``copy.deepcopy`` for what a model's
    own ``model_dump`` made that is not JSON data."""
    try:
        copied: dict[str, Any] = copy_json(state)
    except NotJson:
        copied = copy.deepcopy(state)
    return copied


def trusts_dump(model: type[BaseModel]) -> bool:
    """Whether :func:`dump_json` of this model always gives fresh JSON data (pydantic's own
    ``model_dump(mode="json")``, not an override of the model's)."""
    trusted = _TRUSTED.get(model)
    if trusted is None:
        trusted = _TRUSTED[model] = model.model_dump is _BASE_DUMP
    return trusted
