"""Jinja2TemplateEngine: templates rendered in Jinja2's sandbox with strict undefined names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ruvon.errors import TemplateError
from ruvon.providers.template_engine import TemplateEngine

_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class Jinja2TemplateEngine(TemplateEngine):
    """Renders ``{{ state.order_id }}``-style templates; unsafe attribute access is refused."""

    def render(self, template: str, context: Mapping[str, Any] | None = None) -> str:
        """Render ``template`` with the constructor's names plus ``context``."""
        names = {**self.context, **(context or {})}
        try:
            return _ENVIRONMENT.from_string(template).render(names)
        except SecurityError as exc:
            raise TemplateError(f"The template '{template}' is not allowed: {exc}.") from None
        except JinjaTemplateError as exc:
            raise TemplateError(
                f"The template '{template}' cannot be rendered: {exc}. Check the names it uses "
                f"against the state fields."
            ) from None
