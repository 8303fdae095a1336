"""A small interpreter for expressions over plain data, with an allowlist of syntax.

Python's ``ast`` parses the expression; :func:`check` refuses any node type, call or name the sandbox
does not know before anything runs, and :func:`run` walks the tree itself. Attribute access reads a
mapping's key (``state.total`` is ``state["total"]``), calls reach only :data:`calls.FUNCTIONS` and
:data:`calls.METHODS`, and every intermediate value goes through the bounds of :mod:`limits`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from ruvon.errors import RuvonError
from ruvon.sandbox.calls import FUNCTIONS, METHOD_NAMES, METHODS
from ruvon.sandbox.limits import (
    MAX_DEPTH,
    MAX_SOURCE,
    Budget,
    SandboxLimitError,
    bounded_binop,
    check_value,
)

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ALLOWED: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.BinOp,
    ast.IfExp,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.Call,
    *_BINOPS,
    *_UNARY,
    *_COMPARE,
)
_CONSTANT_TYPES = (str, int, float, bool, type(None))


class Refused(RuvonError):
    """An expression uses something the sandbox does not allow (callers wrap it in their error)."""


class Missing(Refused):
    """An expression names a variable or field its data does not have."""


@lru_cache(maxsize=2048)
def check(expression: str) -> ast.Expression:
    """Parse ``expression`` and refuse anything outside the allowlist, without evaluating it.

    Raises:
        SyntaxError: It does not parse.
        Refused: It uses syntax, a name pattern or a call the sandbox does not allow.
        SandboxLimitError: It is longer than MAX_SOURCE characters or nests deeper than MAX_DEPTH.
    """
    if len(expression) > MAX_SOURCE:
        raise SandboxLimitError(f"it is longer than {MAX_SOURCE:,} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise SandboxLimitError("it nests too deeply to parse") from None
    except ValueError as exc:  # e.g. a null byte in the source
        raise Refused(f"it cannot be parsed: {exc}") from None
    for node, depth in _walk(tree):
        if depth > MAX_DEPTH:
            raise SandboxLimitError(f"it nests deeper than {MAX_DEPTH} levels")
        _check_node(node)
    return tree


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, int]]:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_node(node: ast.AST) -> None:
    if not isinstance(node, _ALLOWED):
        raise Refused(f"{type(node).__name__} ({_describe(node)}) is not allowed")
    if isinstance(node, ast.Constant) and not isinstance(node.value, _CONSTANT_TYPES):
        raise Refused(f"the constant {node.value!r} is not allowed")
    name = getattr(node, "id", None) or getattr(node, "attr", None)
    if isinstance(name, str) and name.startswith("__"):
        raise Refused(f"the name '{name}' is not allowed (no dunder names)")
    if isinstance(node, ast.Call):
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise Refused("keyword and * arguments are not allowed in calls")
        func = node.func
        if isinstance(func, ast.Name) and func.id not in FUNCTIONS:
            raise Refused(f"the function '{func.id}' is not allowed (allowed: {sorted(FUNCTIONS)})")
        if isinstance(func, ast.Attribute) and func.attr not in METHOD_NAMES:
            raise Refused(f"the method '.{func.attr}()' is not allowed")
        if not isinstance(func, ast.Name | ast.Attribute):
            raise Refused("only named functions and methods may be called")
    if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        raise Refused("'**' in a dict display is not allowed")
    if isinstance(node, ast.comprehension) and node.is_async:
        raise Refused("async comprehensions are not allowed")


def _describe(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:60]
    except Exception:  # some nodes (operators, contexts) have no source form
        return type(node).__name__


def run(tree: ast.Expression, names: Mapping[str, Any]) -> Any:
    """Evaluate a checked tree with ``names`` (plain data) in scope."""
    return _Interpreter(names).eval(tree.body)


class _Interpreter:
    """Walks a checked tree; every node costs one unit of the budget."""

    def __init__(self, names: Mapping[str, Any]) -> None:
        self.scopes: list[Mapping[str, Any]] = [names]
        self.budget = Budget()

    def eval(self, node: ast.expr) -> Any:
        self.budget.charge()
        handler: Callable[[Any], Any] = getattr(self, f"_{type(node).__name__}")
        return handler(node)

    def _Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        for scope in reversed(self.scopes):
            if node.id in scope:
                return scope[node.id]
        known = sorted({n for scope in self.scopes for n in scope})
        raise Missing(f"the name '{node.id}' is not defined (names: {', '.join(known)})")

    def _Attribute(self, node: ast.Attribute) -> Any:
        value = self.eval(node.value)
        if not isinstance(value, dict):
            raise Refused(
                f"'{_describe(node)}' reads an attribute of a {type(value).__name__}; attributes "
                f"read the fields of a mapping only"
            )
        if node.attr not in value:
            raise Missing(
                f"'{_describe(node.value)}' has no field '{node.attr}' (fields: {_some(value)})"
            )
        return value[node.attr]

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if not isinstance(value, dict | list | str | tuple):
            raise Refused(f"'{_describe(node)}' indexes a {type(value).__name__}")
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            index: Any = slice(*(None if p is None else self.eval(p) for p in parts))
        else:
            index = self.eval(node.slice)
        result = value[index]
        self.budget.charge(len(result) if isinstance(index, slice) else 0)
        return result

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value in node.values:
            result = self.eval(value)
            if isinstance(node.op, ast.And) != bool(result):
                return result
        return result

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        return check_value(_UNARY[type(node.op)](self.eval(node.operand)))

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        result = bounded_binop(_BINOPS[type(node.op)], left, right)
        self._charge_size(result)
        return result

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def _List(self, node: ast.List) -> list[Any]:
        return [self.eval(item) for item in node.elts]

    def _Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self.eval(item) for item in node.elts)

    def _Set(self, node: ast.Set) -> set[Any]:
        return {self.eval(item) for item in node.elts}

    def _Dict(self, node: ast.Dict) -> dict[Any, Any]:
        return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]

    def _ListComp(self, node: ast.ListComp) -> list[Any]:
        return [self.eval(node.elt) for _ in self._generate(node.generators)]

    def _GeneratorExp(self, node: ast.GeneratorExp) -> list[Any]:
        return [self.eval(node.elt) for _ in self._generate(node.generators)]

    def _SetComp(self, node: ast.SetComp) -> set[Any]:
        return {self.eval(node.elt) for _ in self._generate(node.generators)}

    def _DictComp(self, node: ast.DictComp) -> dict[Any, Any]:
        return {self.eval(node.key): self.eval(node.value) for _ in self._generate(node.generators)}

    def _generate(self, generators: list[ast.comprehension], produced: int = 0) -> Iterator[None]:
        """Bind the comprehension's names for each combination of items; the caller evaluates."""
        first, rest = generators[0], generators[1:]
        items = self.eval(first.iter)
        if not isinstance(items, list | tuple | str | dict | set):
            raise Refused(
                f"'{_describe(first.iter)}' is a {type(items).__name__}, not a collection"
            )
        scope: dict[str, Any] = {}
        self.scopes.append(scope)
        try:
            for item in list(items):
                self.budget.charge()
                _bind(first.target, item, scope)
                if all(self.eval(condition) for condition in first.ifs):
                    yield from self._generate(rest) if rest else iter([None])
        finally:
            self.scopes.pop()

    def _Call(self, node: ast.Call) -> Any:
        args = [self.eval(arg) for arg in node.args]
        if isinstance(node.func, ast.Name):
            result = FUNCTIONS[node.func.id](*args)
        else:
            assert isinstance(node.func, ast.Attribute)
            receiver = self.eval(node.func.value)
            method = METHODS.get(type(receiver), {}).get(node.func.attr)
            if method is None:
                raise Refused(
                    f"'.{node.func.attr}()' cannot be called on a {type(receiver).__name__}"
                )
            result = method(receiver, *args)
        self._charge_size(result)
        return check_value(result)

    def _charge_size(self, value: Any) -> None:
        if isinstance(value, str | list | tuple | dict | set):
            self.budget.charge(len(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            self.budget.charge(value.bit_length() // 64)


def _some(keys: Any, shown: int = 20) -> str:
    """Up to ``shown`` names of ``keys``, for messages."""
    names = sorted(map(str, keys))
    return ", ".join(names[:shown]) + (f", ... ({len(names)} in all)" if len(names) > shown else "")


def _bind(target: ast.expr, value: Any, scope: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        scope[target.id] = value
        return
    if isinstance(target, ast.Tuple | ast.List):
        values = list(value) if isinstance(value, list | tuple) else None
        if values is None or len(values) != len(target.elts):
            raise Refused(f"cannot unpack {type(value).__name__} into {_describe(target)}")
        for element, item in zip(target.elts, values, strict=True):
            _bind(element, item, scope)
        return
    raise Refused(f"cannot assign to {_describe(target)}")
