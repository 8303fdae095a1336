"""The template engine interface (URLs, headers and bodies rendered from the state)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any


class TemplateEngine(ABC):
    """Renders templates such as ``"https://api/{{ state.order_id }}"``.

    Like the expression evaluator, an engine is a security boundary (docs/security.md): templates are
    trusted, the values they render are not, so rendering must reach values only and stay bounded.

    Args:
        context: Names available to templates; ``state`` is the workflow state.
    """

    def __init__(self, context: Mapping[str, Any] | None = None) -> None:
        self.context: dict[str, Any] = dict(context or {})

    @abstractmethod
    def render(self, template: str, context: Mapping[str, Any] | None = None) -> str:
        """Render ``template``; ``context`` adds to or overrides the constructor's names.

        Raises:
            TemplateError: The template does not parse, names something undefined, or is unsafe.
        """
