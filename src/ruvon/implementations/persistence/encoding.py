"""JSON encoding of the stored columns, with errors that name the field that cannot be stored.

The fast path is one ``json.dumps`` per column; only when it fails (or, for PostgreSQL, when the
text contains an escaped NUL) is the value walked again to find the offending field's path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from ruvon.errors import PersistenceError

_JSON_SCALARS = (str, int, float, bool, type(None))
_NUL_ESCAPE = "\\u0000"  # how json.dumps writes "\x00"


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder(allow_nan: bool) -> Callable[[Any], str]:
    """A compact encoder (non-ASCII kept), the same text as ``json.dumps(value, separators=(",",
    ":"), ensure_ascii=False)``.

    ``JSONEncoder.encode`` builds a new C encoder at every call; this one is built once. It does
    not look for cycles: a self-referencing value ends in RecursionError, as one nested too deeply.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=allow_nan
        ).encode
    chunks = make(
        None, _refuse, json.encoder.encode_basestring, None, ":", ",", False, False, allow_nan
    )
    join = "".join

    def encode(value: Any) -> str:
        if type(value) is str:
            return json.encoder.encode_basestring(value)
        return join(chunks(value, 0))

    return encode


_encode = _encoder(True)
_encode_strict = _encoder(False)


def dump_json(value: Any) -> str:
    """Serialize a JSON column (compact; non-ASCII kept as is)."""
    return _encode(value)


def fast_column(value: Any, postgres: bool) -> str | None:
    """The JSON text of a column, or None when :func:`encode_column` must look at it (it cannot be
    encoded, or may hold a NUL that PostgreSQL refuses). The hot path of every save."""
    if type(value) is dict and not value:
        return "{}"
    try:
        text = _encode_strict(value) if postgres else _encode(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if postgres and _NUL_ESCAPE in text:
        return None
    return text


def encode_column(value: Any, field: str, owner: str, *, postgres: bool = False) -> str:
    """The JSON text of one column, or a PersistenceError naming the field that cannot be stored.

    Args:
        value: The column's value (state, metadata, engine bookkeeping or a task result).
        field: Its name in messages (``"state"``, ``"result"``).
        owner: What is being saved, e.g. ``"Workflow 'abc'"``.
        postgres: Also refuse what PostgreSQL's JSONB cannot hold: NUL characters in strings,
            and NaN or infinite floats.

    Raises:
        PersistenceError: A value is not JSON-serializable (or not storable in PostgreSQL); the
            message names its path, e.g. ``state.items[2].when``.
    """
    if not value and type(value) is dict:  # metadata and engine are usually empty
        return "{}"
    try:
        text = _encode_strict(value) if postgres else _encode(value)
    except (TypeError, ValueError, RecursionError):
        raise PersistenceError(_problem_message(value, field, owner, postgres)) from None
    # An escaped backslash followed by "u0000" also matches; the walk below then finds nothing.
    if postgres and _NUL_ESCAPE in text and _walk(value, field, True) is not None:
        raise PersistenceError(_problem_message(value, field, owner, postgres))
    return text


def _problem_message(value: Any, field: str, owner: str, postgres: bool) -> str:
    found = _walk(value, field, postgres)
    if found is None:  # e.g. nesting too deep for json.dumps
        return (
            f"{owner} cannot be saved: {field} cannot be serialized as JSON (nested too deeply or "
            f"self-referencing). Store plain JSON values only."
        )
    path, problem, bad = found
    if problem == "nul":
        return (
            f"{owner} cannot be saved: {path} contains a NUL character (\\u0000), and PostgreSQL "
            f"text cannot hold NUL characters. Remove or replace it (for instance with "
            f"'\\ufffd') before returning it from a step."
        )
    if problem == "nan":
        return (
            f"{owner} cannot be saved: {path} is {bad!r}, and PostgreSQL "
            f"JSON cannot hold NaN or infinite numbers. Store None or a string instead."
        )
    return (
        f"{owner} cannot be saved: {path} is {problem}, which is not JSON-serializable. Store "
        f"plain JSON values only (str, int, float, bool, None, lists, dicts with string keys); "
        f"convert others first, e.g. a datetime with .isoformat()."
    )


def _walk(value: Any, path: str, postgres: bool, depth: int = 0) -> tuple[str, str, Any] | None:
    """The first (path, problem, value) that json.dumps or PostgreSQL cannot store, depth first."""
    if depth > 200:
        return None
    if isinstance(value, str):
        return (path, "nul", value) if postgres and "\x00" in value else None
    if isinstance(value, float):
        return (path, "nan", value) if postgres and not math.isfinite(value) else None
    if isinstance(value, _JSON_SCALARS):
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, _JSON_SCALARS):
                return (f"{path} key {key!r}", f"a key of type {type(key).__name__}", key)
            if postgres and isinstance(key, str) and "\x00" in key:
                return (f"{path} key {key!r}", "nul", key)
            found = _walk(item, f"{path}.{key}", postgres, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _walk(item, f"{path}[{index}]", postgres, depth + 1)
            if found is not None:
                return found
        return None
    return (path, f"a {type(value).__name__} object", value)


def find_unstorable(value: Any, field: str) -> str | None:
    """The path of the first value inside ``value`` that is not JSON data, or None."""
    found = _walk(value, field, False)
    return None if found is None else found[0]


class JsonCache:
    """The JSON text of recently saved objects, by identity.

    A workflow's definition is the same, never-mutated dict at every save; serializing it once
    instead of at every step saves several microseconds per step. Entries hold a reference to
    their object, so an id cannot be reused while it is cached.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: dict[int, tuple[Any, str]] = {}

    def dumps(self, value: Any, field: str, owner: str, *, postgres: bool = False) -> str:
        """``encode_column(...)``, from the cache when ``value`` is an object seen before."""
        hit = self._items.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = encode_column(value, field, owner, postgres=postgres)
        if len(self._items) >= self._size:
            self._items.clear()  # simple and thread-safe; definitions are few
        self._items[id(value)] = (value, text)
        return text
