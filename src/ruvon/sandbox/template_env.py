"""A Jinja2 environment for untrusted data: immutable sandbox, plain data, bounded work and output.

On top of :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no attribute walks to internals, no
mutating methods) this environment: checks arithmetic and ``~`` concatenation with the bounds of
:mod:`limits` before computing; calls only the methods expressions may call (no ``str.format``); keeps
the filters that cannot build unbounded values, wrapping the ones that could; reads a mapping's key
before its methods (``state.items`` is the field ``items``); and counts every line of template code
it runs, so loops over large data stop at the work or time bound.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ruvon.sandbox.calls import METHODS
from ruvon.sandbox.limits import MAX_PRINTED, Budget, SandboxLimitError, bounded_binop, size_of

_BUDGET: ContextVar[Budget | None] = ContextVar("ruvon_template_budget", default=None)
_TEMPLATE_FILE = "<template>"

#: Jinja filters kept as they are: their result is no larger than their input.
_PLAIN_FILTERS = [
    "abs",
    "attr",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "filesizeformat",
    "first",
    "float",
    "groupby",
    "int",
    "items",
    "last",
    "length",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "reject",
    "rejectattr",
    "reverse",
    "safe",
    "select",
    "selectattr",
    "sort",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "wordcount",
]
_MAX_INDENT = 8
_MAX_ROUND_DIGITS = 50


def _charge(units: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge(units)


def _check_printed(value: Any, what: str) -> None:
    if size_of(value, MAX_PRINTED) > MAX_PRINTED:
        raise SandboxLimitError(f"{what} would build more than {MAX_PRINTED:,} characters")


def _bounded(func: Callable[..., Any], check: Callable[..., None] | None = None) -> Any:
    """``func`` (a filter) charging the budget, pre-checked by ``check`` and size-checked after."""

    @functools.wraps(func)  # keeps Jinja's pass_eval_context / pass_environment marks
    def call(*args: Any, **kwargs: Any) -> Any:
        _charge()
        if check is not None:
            check(*args, **kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, str | list | dict):
            _charge(len(result))
            _check_printed(result, f"the filter '{func.__name__}'")
        return result

    return call


def _after_context(count: int, check: Callable[..., None]) -> Callable[..., None]:
    """``check`` applied to a filter's arguments after its first ``count`` (context) arguments."""
    return lambda *args, **kwargs: check(*args[count:], **kwargs)


def _check_join(value: Any, d: str = "", attribute: Any = None) -> None:
    items = list(value) if isinstance(value, list | tuple | dict) else [value]
    _check_printed([*items, len(items) * str(d)[:1]], "the filter 'join'")
    if len(str(d)) * len(items) > MAX_PRINTED:
        raise SandboxLimitError(
            f"the filter 'join' would build more than {MAX_PRINTED:,} characters"
        )


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old, new = str(s), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if len(text) + hits * max(len(new) - len(old), 0) > MAX_PRINTED:
        raise SandboxLimitError(
            f"the filter 'replace' would build more than {MAX_PRINTED:,} characters"
        )


def _check_tojson(value: Any, indent: Any = None) -> None:
    if indent is not None and (not isinstance(indent, int) or indent > _MAX_INDENT):
        raise SandboxLimitError(f"the filter 'tojson' indents by at most {_MAX_INDENT}")
    _check_printed(value, "the filter 'tojson'")


def _check_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    if not isinstance(start, int | float):
        raise SandboxLimitError("the filter 'sum' adds numbers only; 'start' must be a number")


def _check_round(value: Any, precision: Any = 0, method: str = "common") -> None:
    if not isinstance(precision, int) or abs(precision) > _MAX_ROUND_DIGITS:
        raise SandboxLimitError(f"the filter 'round' takes at most {_MAX_ROUND_DIGITS} digits")


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a size-checked join instead of Jinja's unchecked ``str_join``."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The environment :class:`Jinja2TemplateEngine` renders with (see the module docstring)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=self._finalize)
        kept = {name: _bounded(self.filters[name]) for name in _PLAIN_FILTERS}
        checked = {
            "join": _after_context(1, _check_join),
            "replace": _after_context(1, _check_replace),
            "tojson": _after_context(1, _check_tojson),
            "sum": _after_context(1, _check_sum),
            "round": _check_round,
            "string": lambda value: _check_printed(value, "the filter 'string'"),
            "urlencode": lambda value: _check_printed(value, "the filter 'urlencode'"),
        }
        kept |= {name: _bounded(self.filters[name], check) for name, check in checked.items()}
        self.filters = kept
        for name in ("lipsum", "cycler", "joiner"):  # lipsum(n) builds unbounded text
            self.globals.pop(name, None)

    @staticmethod
    def _finalize(value: Any) -> Any:
        _check_printed(value, "printing this value")
        return value

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ ...``, refused before building more than MAX_PRINTED characters."""
        _charge()
        _check_printed(list(parts), "the '~' concatenation")
        return "".join(str(part) for part in parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Arithmetic with the sandbox's bounds (``'a' * 10**9`` is refused before it is built)."""
        _charge()
        return bounded_binop(operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """A mapping's key first (``state.items`` is a field), then the sandbox's attribute rules."""
        _charge()
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            raise SecurityError(  # the sandbox's safe formatter still pads to any width
                f"'.{attribute}()' is not allowed in templates; use '~' to join strings"
            )
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Item access, charged to the budget."""
        _charge()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Calls from the template: methods only from the expressions' allowlist."""
        _charge()
        receiver = getattr(__obj, "__self__", None)
        if isinstance(receiver, str | list | dict) and not isinstance(__obj, type):
            base = next(t for t in (str, dict, list) if isinstance(receiver, t))
            name = getattr(__obj, "__name__", "?")
            method = METHODS[base].get(name)
            if method is None:
                raise SecurityError(
                    f"the method '.{name}()' of a {base.__name__} is not allowed in templates"
                )
            result = method(receiver, *args, **kwargs)
        else:
            result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | list | dict | range):
            _charge(len(result))
        return result


def render_bounded(render: Callable[[], Iterator[str]]) -> str:
    """Run ``render`` (a template's ``generate``) under a fresh budget and the line tracer.

    Every line of compiled template code charges one unit, so nested loops over large data stop at
    the work or time bound; the output stops at MAX_PRINTED characters.
    """
    budget = Budget()
    token = _BUDGET.set(budget)
    previous = sys.gettrace()

    def trace_lines(frame: FrameType, event: str, arg: Any) -> Any:
        budget.charge()
        return trace_lines

    def trace_calls(frame: FrameType, event: str, arg: Any) -> Any:
        return trace_lines if frame.f_code.co_filename == _TEMPLATE_FILE else None

    sys.settrace(trace_calls)
    try:
        chunks: list[str] = []
        size = 0
        for chunk in render():
            size += len(chunk)
            if size > MAX_PRINTED:
                raise SandboxLimitError(f"its output is longer than {MAX_PRINTED:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        sys.settrace(previous)
        _BUDGET.reset(token)
