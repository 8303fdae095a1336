"""SimpleExpressionEvaluator: Python-like expressions over plain data, in ruvon's own sandbox.

The evaluator is a security boundary (docs/security.md): an expression is written by a trusted author
but reads untrusted state, so it can compute a value from its names and nothing else. Names are
converted to plain data first (a pydantic model becomes its ``model_dump(mode="json")``), the syntax is
checked against an allowlist before anything runs, and every intermediate value is size-bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruvon.errors import ExpressionError
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.sandbox.calls import FUNCTIONS
from ruvon.sandbox.interpreter import Missing, Refused, check, run
from ruvon.sandbox.limits import SandboxLimitError
from ruvon.sandbox.plain import PlainDataError, to_plain

_HELP = (
    "Expressions may read names such as state.total (fields of plain data), compare, combine with "
    f"and/or/not, do arithmetic, build lists and dicts, and call {', '.join(sorted(FUNCTIONS))}, "
    "plus .get() on mappings and a few string methods (lower, upper, strip, split, replace, "
    "startswith, endswith, ...)."
)


class SimpleExpressionEvaluator(ExpressionEvaluator):
    """Evaluates comparisons, boolean logic, arithmetic, literals, field and item access.

    ``state.total > 100 and state.tier in ['gold']`` works on a pydantic model or a dict: both are
    read as plain data, and ``state.total`` reads the key ``total``. Nothing an expression does can
    change the state: it works on a copy.
    """

    def evaluate(self, expression: str, context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate ``expression`` with the constructor's names plus ``context``.

        Raises:
            ExpressionError: It does not parse, uses something not allowed, goes past a bound of
                the sandbox, or fails (an unknown field, a division by zero).
        """
        tree = self._checked(expression)
        try:
            names = {
                name: to_plain(value, name)
                for name, value in {**self.context, **(context or {})}.items()
            }
            return run(tree, names)
        except PlainDataError as exc:
            raise ExpressionError(
                f"The expression '{expression}' cannot read its names: {exc}."
            ) from None
        except Missing as exc:
            raise ExpressionError(
                f"The expression '{expression}' cannot be evaluated: {exc}. Check the names it "
                f"uses against the state's fields."
            ) from None
        except Refused as exc:
            raise ExpressionError(f"The expression '{expression}' is not allowed: {exc}.") from None
        except SandboxLimitError as exc:
            raise ExpressionError(f"The expression '{expression}' was stopped: {exc}.") from None
        except Exception as exc:  # TypeError, ZeroDivisionError, ... from plain-data operations
            raise ExpressionError(
                f"The expression '{expression}' failed: {type(exc).__name__}: {exc}."
            ) from None

    def check(self, expression: str) -> None:
        """Raise ExpressionError if ``expression`` does not parse or uses anything not allowed."""
        self._checked(expression)

    @staticmethod
    def _checked(expression: str) -> Any:
        if not isinstance(expression, str):
            raise ExpressionError(f"The expression {expression!r} is not a string.")
        try:
            return check(expression)
        except SyntaxError as exc:
            raise ExpressionError(
                f"The expression '{expression}' does not parse: {exc.msg}."
            ) from None
        except Refused as exc:
            raise ExpressionError(
                f"The expression '{expression}' is not allowed: {exc}. {_HELP}"
            ) from None
        except SandboxLimitError as exc:
            raise ExpressionError(f"The expression '{expression}' is refused: {exc}.") from None
