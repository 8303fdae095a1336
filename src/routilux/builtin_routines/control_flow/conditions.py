"""Route conditions of :class:`ConditionalRouter`: evaluation and safe saving.

A condition is a callable, a dict of field matches, or an expression string. Strings
(and lambdas read back from a saved flow) are evaluated by ruvon's expression
evaluator over plain data (dicts, lists, strings, numbers): ``data.get('value', 0)
> config.get('threshold', 0)`` works, nothing can import, call arbitrary functions
or reach Python internals, and ``eval`` is never used.
"""

from __future__ import annotations

import ast
import inspect
import logging
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from routilux.errors import DefinitionError, SerializationError, UnsafeRestoreError
from routilux.serializable import RestoreContext, callable_ref
from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.providers.expression_evaluator import ExpressionEvaluator

logger = logging.getLogger("routilux.builtin_routines.conditions")

#: The evaluator class for string conditions (an ``ExpressionEvaluator`` subclass).
EVALUATOR_CLS: type[ExpressionEvaluator] = SimpleExpressionEvaluator

_PLAIN_DEPTH = 50


def plain(value: Any, depth: int = 0) -> Any:
    """A plain-data copy of ``value``: dicts, lists, str, numbers, bool, None.

    Anything else becomes its ``str``, so an expression never sees a live object.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth >= _PLAIN_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    return str(value)


def check_expression(expression: str, route: str, error: type[Exception] = DefinitionError) -> None:
    """Refuses an expression the evaluator cannot parse, or one naming private or
    dunder names (``_x``, ``__class__``), naming the route."""
    try:
        EVALUATOR_CLS({}).check(expression)
    except ExpressionError as exc:
        raise error(f"The condition of route {route!r} is refused: {exc}") from None
    for node in ast.walk(ast.parse(expression, mode="eval")):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
        if isinstance(name, str) and name.startswith("_"):
            raise error(
                f"The condition of route {route!r} uses {name!r}; names starting with '_' are "
                "not allowed in conditions."
            )


def evaluate_expression(
    expression: str, data: Any, config: Mapping[str, Any], param: str = "data"
) -> bool:
    """Evaluates a string condition over plain copies of ``data`` and ``config``."""
    names = {"data": plain(data), "config": plain(config)}
    names[param] = names["data"]
    return bool(EVALUATOR_CLS(names).evaluate(expression))


class ExpressionCondition:
    """A condition read back from a saved lambda: ``lambda <param>: <expression>``.

    Calling it evaluates the expression with the safe evaluator.

    Args:
        expression: The lambda's body.
        param: The lambda's parameter name.
    """

    def __init__(self, expression: str, param: str = "data") -> None:
        self.expression = expression
        self.param = param
        self.config: Mapping[str, Any] = {}

    def __call__(self, data: Any) -> bool:
        return evaluate_expression(self.expression, data, self.config, self.param)

    def __repr__(self) -> str:
        return f"ExpressionCondition({self.expression!r})"


def matches(condition: Any, data: Any, config: Mapping[str, Any]) -> bool:
    """Whether ``data`` satisfies one condition (errors count as no match)."""
    if isinstance(condition, str):
        return evaluate_expression(condition, data, config)
    if isinstance(condition, ExpressionCondition):
        return evaluate_expression(condition.expression, data, config, condition.param)
    if isinstance(condition, Mapping):
        if not isinstance(data, Mapping):
            return False
        for key, expected in condition.items():
            if key not in data:
                return False
            if callable(expected):
                if not matches(expected, data[key], config):
                    return False
            elif data[key] != expected:
                return False
        return True
    if callable(condition):
        return bool(_call(condition, data, config))
    return False


def _call(func: Callable[..., Any], data: Any, config: Mapping[str, Any]) -> Any:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return func(data)
    names = [p.name for p in params]
    if "config" in names and "data" in names:
        return func(data=data, config=dict(config))
    if len(params) >= 2:
        return func(data, dict(config))
    return func(data)


# -- saving and restoring -----------------------------------------------------------


def lambda_source(func: Callable[..., Any]) -> tuple[str, str] | None:
    """Finds ``(body, param)`` of a one-argument lambda from its source, if possible."""
    try:
        source = textwrap.dedent(inspect.getsource(func)).strip()
    except (OSError, TypeError):
        return None
    code = getattr(func, "__code__", None)
    for candidate in (source, f"({source})", source.rstrip(",)") + ")", source.split("=", 1)[-1]):
        try:
            tree = ast.parse(candidate)
        except SyntaxError:
            continue
        lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
        for node in lambdas:
            args = [a.arg for a in node.args.args]
            if len(args) == 1 and (code is None or code.co_varnames[:1] == tuple(args)):
                return ast.unparse(node.body), args[0]
    return None


def dump_condition(condition: Any, route: str, owner: Any) -> Any:
    """Turns a condition into saved data (lambdas become their expression)."""
    if isinstance(condition, str):
        return condition
    if isinstance(condition, ExpressionCondition):
        return {"_type": "lambda_expression", "expression": condition.expression,
                "param": condition.param}  # fmt: skip
    if isinstance(condition, Mapping):
        return {str(k): dump_condition(v, route, owner) if callable(v) else v
                for k, v in condition.items()}  # fmt: skip
    if callable(condition):
        if getattr(condition, "__name__", "") == "<lambda>":
            found = lambda_source(condition)
            if found is None:
                raise SerializationError(
                    f"The lambda condition of route {route!r} has no readable source, so it "
                    "cannot be saved; use an expression string instead."
                )
            return {"_type": "lambda_expression", "expression": found[0], "param": found[1]}
        return callable_ref(condition, owner)
    raise SerializationError(f"The condition of route {route!r} is a {type(condition).__name__}.")


def load_condition(data: Any, route: str, ctx: RestoreContext) -> Any:
    """Restores a saved condition; a lambda is re-parsed by the safe evaluator or refused."""
    if isinstance(data, str):
        check_expression(data, route, UnsafeRestoreError)
        return data
    if not isinstance(data, Mapping):
        raise UnsafeRestoreError(f"The saved condition of route {route!r} is {data!r}.")
    kind = data.get("_type")
    if kind == "lambda_expression":
        expression, param = data.get("expression"), data.get("param", "data")
        if (
            not isinstance(expression, str)
            or not isinstance(param, str)
            or not param.isidentifier()
        ):
            raise UnsafeRestoreError(f"The saved lambda condition of route {route!r} is malformed.")
        check_expression(expression, route, UnsafeRestoreError)
        return ExpressionCondition(expression, param)
    if kind is not None:
        return ctx.resolve_callable(data, f"the condition of route {route!r}")
    return {str(k): load_condition(v, route, ctx) if isinstance(v, Mapping) else v
            for k, v in data.items()}  # fmt: skip
