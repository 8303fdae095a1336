"""Turn the values handed to an expression or template into plain data.

Plain data is what a JSON document holds: dicts with string keys, lists, str, int, float, bool and
None. It has no methods that reach code, so the sandbox can expose it safely; a live object (a pydantic
model, a datetime) is converted the way ``model_dump(mode="json")`` converts it, and anything that has
no JSON form is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ruvon.errors import RuvonError

_MAX_NESTING = 200


class PlainDataError(RuvonError, ValueError):
    """A value given to an expression or template has no plain-data (JSON) form."""


def to_plain(value: Any, name: str = "value") -> Any:
    """A copy of ``value`` made only of dict, list, str, int, float, bool and None.

    Args:
        value: A pydantic model, mapping, sequence or scalar.
        name: What the value is called in the expression (``state``), for messages.

    Raises:
        PlainDataError: Some part of ``value`` has no JSON form, or it nests deeper than 200 levels.
    """
    return _convert(value, name, 0)


def _convert(value: Any, where: str, depth: int) -> Any:
    if depth > _MAX_NESTING:
        raise PlainDataError(f"'{where}' nests deeper than {_MAX_NESTING} levels")
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is float or kind is str:
        return value
    if isinstance(value, BaseModel):
        # JSON mode yields only dict (str keys), list, str, int, float, bool and None, and raises
        # for a value it cannot serialize, so its output needs no second walk.
        try:
            return value.model_dump(mode="json")
        except PydanticSerializationError as exc:
            raise PlainDataError(f"'{where}' cannot be read as plain data: {exc}") from None
    if isinstance(value, Mapping):
        return {
            _key(key, where): _convert(item, f"{where}.{key}", depth + 1)
            for key, item in value.items()
        }
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        return [_convert(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    try:  # Enum, datetime, Decimal, UUID, dataclasses, str/int subclasses: their JSON form
        converted = to_jsonable_python(value)
    except PydanticSerializationError:
        raise PlainDataError(
            f"'{where}' holds a {kind.__name__}, which has no plain-data form; expressions and "
            f"templates read only JSON-like values (dict, list, str, int, float, bool, None)"
        ) from None
    if type(converted) is kind:  # no conversion happened: not plain data
        raise PlainDataError(f"'{where}' holds a {kind.__name__}, which is not plain data")
    return _convert(converted, where, depth + 1)


def _key(key: Any, where: str) -> str:
    if type(key) is str:
        return key
    if type(key) in (int, float, bool) or key is None:
        return str(key).lower() if type(key) is bool else str(key)
    raise PlainDataError(f"'{where}' has a key of type {type(key).__name__}; keys must be strings")
