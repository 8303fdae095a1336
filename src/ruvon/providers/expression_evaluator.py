"""The expression evaluator interface (route conditions and other expressions in definitions)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any


class ExpressionEvaluator(ABC):
    """Evaluates expressions such as ``state.total > 100 and state.tier in ['gold']``.

    An evaluator is a security boundary (docs/security.md): expressions come from trusted
    definitions but read untrusted data, so an implementation must compute a value from its names
    and nothing else (no code, no mutation, bounded time and memory), and ``check`` should refuse
    statically whatever ``evaluate`` would refuse, so ``ruvon validate`` reports it.

    Args:
        context: Names available to expressions; ``state`` is the workflow state (a dict or model).
    """

    def __init__(self, context: Mapping[str, Any] | None = None) -> None:
        self.context: dict[str, Any] = dict(context or {})

    @abstractmethod
    def evaluate(self, expression: str, context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate ``expression``; ``context`` adds to or overrides the constructor's names.

        Raises:
            ExpressionError: The expression does not parse, uses something not allowed, or fails.
        """

    def check(self, expression: str) -> None:  # noqa: B027 - optional hook
        """Raise ExpressionError if ``expression`` does not parse or is not allowed (no evaluation)."""
