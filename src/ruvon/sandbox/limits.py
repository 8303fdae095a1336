"""Bounds on the work an expression or template may do, and size-checked arithmetic.

Every bound is checked *before* the value is built, so ``'a' * 10**9`` or ``9**3999999`` is refused
without allocating anything. The values are listed in docs/security.md.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Mapping
from typing import Any

from ruvon.errors import RuvonError

#: The largest integer an expression may build, in bits (about 1,230 decimal digits).
MAX_INT_BITS = 4096
#: The longest string, list, dict or set an expression may build (characters or items).
MAX_LENGTH = 100_000
#: The largest printed size of a value (``str()`` of a container, a template's output), in characters.
MAX_PRINTED = 1_000_000
#: Work units per evaluation: one per node evaluated plus the size of every value built.
MAX_WORK = 1_000_000
#: Wall time per evaluation or render, in seconds.
MAX_SECONDS = 0.5
#: The longest expression source accepted, in characters.
MAX_SOURCE = 10_000
#: The deepest nesting of an expression's syntax tree.
MAX_DEPTH = 64


class SandboxLimitError(RuvonError):
    """An expression or template went past one of the sandbox's bounds."""


class Budget:
    """Counts the work of one evaluation and stops it at :data:`MAX_WORK` or :data:`MAX_SECONDS`."""

    __slots__ = ("deadline", "used")

    def __init__(self) -> None:
        self.used = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def charge(self, units: int = 1) -> None:
        """Spend ``units`` of work; raise SandboxLimitError past the budget or the deadline."""
        self.used += units
        if self.used > MAX_WORK:
            raise SandboxLimitError(
                f"it does more than {MAX_WORK:,} units of work (the sandbox's bound); "
                f"simplify it or move the computation into a step function"
            )
        if time.monotonic() > self.deadline:
            raise SandboxLimitError(
                f"it ran longer than {MAX_SECONDS} s (the sandbox's bound); simplify it or move "
                f"the computation into a step function"
            )


def size_of(value: Any, limit: int = MAX_LENGTH) -> int:
    """The printed size of ``value`` counting nested items, stopping early once it passes ``limit``.

    A list holding the same long string many times is small in memory but huge once printed, so
    ``str()`` of containers is charged by this weight, not by ``len``.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            total += 2 + 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:
            total += 2
        if total > limit:
            return total
    return total


def check_value(value: Any) -> Any:
    """Refuse an integer wider than MAX_INT_BITS or a container longer than MAX_LENGTH."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise SandboxLimitError(f"it builds an integer wider than {MAX_INT_BITS} bits")
    elif isinstance(value, str | list | tuple | dict | set | frozenset) and len(value) > MAX_LENGTH:
        raise SandboxLimitError(
            f"it builds a {type(value).__name__} longer than {MAX_LENGTH:,} items or characters"
        )
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _is_sized(value: Any) -> bool:
    return isinstance(value, str | list | tuple)


def _check_multiply(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right):
        if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS + 1:
            raise SandboxLimitError(f"it multiplies to an integer wider than {MAX_INT_BITS} bits")
        return
    for seq, times in ((left, right), (right, left)):
        if not (_is_sized(seq) and _is_int(times)) or times <= 0:
            continue
        if len(seq) * times > MAX_LENGTH:
            raise SandboxLimitError(
                f"it repeats a {type(seq).__name__} to more than {MAX_LENGTH:,} items or characters"
            )
        if size_of(seq, MAX_PRINTED) * times > MAX_PRINTED:  # [long_text] * n: short but heavy
            raise SandboxLimitError(
                f"it repeats a {type(seq).__name__} to more than {MAX_PRINTED:,} characters in all"
            )


def _check_power(base: Any, exponent: Any) -> None:
    if not (_is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1):
        return
    # (bits - 1) * exponent is a lower bound of the result's width: past the bound, refuse; under
    # it, the result is at most twice the bound wide, cheap to build and checked after.
    if (abs(base).bit_length() - 1) * exponent >= MAX_INT_BITS:
        raise SandboxLimitError(f"it raises to a power wider than {MAX_INT_BITS} bits")


def _check_add(left: Any, right: Any) -> None:
    if not (_is_sized(left) and _is_sized(right)):
        return
    if len(left) + len(right) > MAX_LENGTH:
        raise SandboxLimitError(f"it concatenates to more than {MAX_LENGTH:,} items or characters")
    if size_of(left, MAX_PRINTED) + size_of(right, MAX_PRINTED) > MAX_PRINTED:
        raise SandboxLimitError(f"it concatenates to more than {MAX_PRINTED:,} characters in all")


def _check_shift(left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right) and left and right + left.bit_length() > MAX_INT_BITS:
        raise SandboxLimitError(f"it shifts to an integer wider than {MAX_INT_BITS} bits")


def _check_modulo(left: Any, right: Any) -> None:
    if isinstance(left, str):
        raise SandboxLimitError(
            "it formats a string with '%', which the sandbox does not allow; use str() and +"
        )


_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "*": _check_multiply,
    "**": _check_power,
    "+": _check_add,
    "<<": _check_shift,
    "%": _check_modulo,
}

BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "<<": operator.lshift,
    ">>": operator.rshift,
    "&": operator.and_,
    "|": operator.or_,
    "^": operator.xor,
}


def bounded_binop(symbol: str, left: Any, right: Any) -> Any:
    """``left <symbol> right`` after checking the result stays within the bounds.

    Raises:
        SandboxLimitError: The result would be too large (checked before computing it).
    """
    check = _CHECKS.get(symbol)
    if check is not None:
        check(left, right)
    return check_value(BINARY_OPERATORS[symbol](left, right))
