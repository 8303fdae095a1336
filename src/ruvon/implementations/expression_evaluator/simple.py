"""SimpleExpressionEvaluator: safe Python-like expressions over the state, via simpleeval."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from ruvon.errors import ExpressionError
from ruvon.providers.expression_evaluator import ExpressionEvaluator

_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "any": any,
    "all": all,
    "sum": sum,
}


class SimpleExpressionEvaluator(ExpressionEvaluator):
    """Evaluates comparisons, boolean logic, arithmetic, literals, attribute and item access.

    ``state.total > 100 and state.tier in ['gold']`` works, on a pydantic model or a dict (simpleeval
    reads dict keys as attributes). Imports, dunder attributes, lambdas and comprehensions over unbounded input
    are refused by simpleeval.
    """

    def evaluate(self, expression: str, context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate ``expression`` with the constructor's names plus ``context``."""
        names = {**self.context, **(context or {})}
        evaluator = EvalWithCompoundTypes(names=names, functions=_FUNCTIONS)
        try:
            return evaluator.eval(expression)
        except InvalidExpression as exc:
            raise ExpressionError(
                f"The expression '{expression}' is not allowed: {exc}. Expressions may use state "
                f"fields, comparisons, and/or/not, arithmetic, literals and {sorted(_FUNCTIONS)}."
            ) from None
        except SyntaxError as exc:
            raise ExpressionError(
                f"The expression '{expression}' does not parse: {exc.msg}."
            ) from None
        except Exception as exc:
            raise ExpressionError(
                f"The expression '{expression}' failed: {type(exc).__name__}: {exc}."
            ) from None

    def check(self, expression: str) -> None:
        """Raise ExpressionError if ``expression`` is not a valid Python expression."""
        try:
            ast.parse(expression, mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(
                f"The expression '{expression}' does not parse: {exc.msg}."
            ) from None
