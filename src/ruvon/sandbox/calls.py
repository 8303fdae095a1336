"""The functions and methods an expression may call: pure, over plain data, with bounded results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruvon.sandbox.limits import (
    MAX_INT_BITS,
    MAX_LENGTH,
    MAX_PRINTED,
    SandboxLimitError,
    check_value,
    size_of,
)

_MAX_ROUND_DIGITS = 50
_MAX_INT_TEXT = MAX_INT_BITS // 3 + 2


def _numbers(values: Any, name: str) -> list[Any]:
    items = list(values)
    if not all(isinstance(v, int | float) for v in items):
        raise TypeError(f"{name}() adds numbers only")
    return items


def _sum(values: Any, start: Any = 0) -> Any:
    total = start
    for item in _numbers([start, *values], "sum")[1:]:
        total = check_value(total + item)
    return total


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > _MAX_ROUND_DIGITS):
        raise SandboxLimitError(f"round() takes at most {_MAX_ROUND_DIGITS} digits")
    return round(number, ndigits)


def _int(value: Any = 0, base: Any = None) -> int:
    if isinstance(value, str) and len(value.strip()) > _MAX_INT_TEXT:
        raise SandboxLimitError(f"int() reads at most {_MAX_INT_TEXT} digits")
    return int(value) if base is None else int(value, base)


def _str(value: Any = "") -> str:
    if size_of(value, MAX_PRINTED) > MAX_PRINTED:
        raise SandboxLimitError(f"str() would build more than {MAX_PRINTED:,} characters")
    return str(value)


#: The functions expressions may call, by name.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "sum": _sum,
    "any": any,
    "all": all,
    "int": _int,
    "float": float,
    "str": _str,
    "bool": bool,
}


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    if not all(isinstance(v, str) for v in (old, new)):
        raise TypeError("replace() takes strings")
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    if len(text) + hits * max(len(new) - len(old), 0) > MAX_LENGTH:
        raise SandboxLimitError(f"replace() would build more than {MAX_LENGTH:,} characters")
    return text.replace(old, new, count)


def _join(separator: str, items: Any) -> str:
    parts = list(items)
    if not all(isinstance(p, str) for p in parts):
        raise TypeError("join() takes a list of strings")
    if sum(map(len, parts)) + len(separator) * len(parts) > MAX_LENGTH:
        raise SandboxLimitError(f"join() would build more than {MAX_LENGTH:,} characters")
    return separator.join(parts)


def _get(mapping: dict[str, Any], key: Any, default: Any = None) -> Any:
    return mapping.get(key, default)


_STRING_METHODS: dict[str, Callable[..., Any]] = {
    name: getattr(str, name)
    for name in (
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "split",
        "count",
        "find",
        "isdigit",
        "isalpha",
        "isalnum",
        "title",
        "capitalize",
    )
}
_STRING_METHODS |= {"replace": _replace, "join": _join}

#: Methods by the type of the value they are called on; each is called as ``method(value, *args)``.
METHODS: dict[type, dict[str, Callable[..., Any]]] = {
    str: _STRING_METHODS,
    dict: {
        "get": _get,
        "keys": lambda d: list(d.keys()),
        "values": lambda d: list(d.values()),
        "items": lambda d: [[k, v] for k, v in d.items()],
    },
    list: {"count": list.count, "index": list.index},
}

#: Every method name, for the static check of an expression.
METHOD_NAMES = frozenset(name for methods in METHODS.values() for name in methods)
