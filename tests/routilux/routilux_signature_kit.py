"""Checks a callable's parameters against the routilux 0.10 reference."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

#: Marks a parameter without a default.
REQUIRED = object()


def assert_signature(func: Callable[..., Any], *expected: tuple[str, Any]) -> None:
    """Asserts that ``func`` takes the ``expected`` ``(name, default)`` pairs first, in order.

    ``self``/``cls`` are skipped; ``*args``/``**kwargs`` are named ``*name``/``**name``.
    Extra keyword-only parameters after the reference ones are allowed (our additions).
    """
    params = [
        p for p in inspect.signature(func).parameters.values() if p.name not in ("self", "cls")
    ]
    got = []
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            got.append((f"*{p.name}", REQUIRED))
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            got.append((f"**{p.name}", REQUIRED))
        else:
            got.append((p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default))
    assert got[: len(expected)] == list(expected), f"{func.__qualname__}: {got}"
    for name, _ in got[len(expected) :]:
        if name.startswith("*"):
            continue  # *args / **kwargs are optional by nature
        extra = next(p for p in params if p.name == name.lstrip("*"))
        assert (
            extra.kind is inspect.Parameter.KEYWORD_ONLY
            or extra.default is not inspect.Parameter.empty
        ), f"{func.__qualname__}: extra parameter {name} must be optional"
