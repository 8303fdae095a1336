"""Jinja2TemplateEngine: templates rendered over plain data in a bounded, immutable Jinja2 sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.exceptions import SecurityError

from ruvon.errors import TemplateError
from ruvon.providers.template_engine import TemplateEngine
from ruvon.sandbox.limits import MAX_SOURCE, SandboxLimitError
from ruvon.sandbox.plain import PlainDataError, to_plain
from ruvon.sandbox.template_env import BoundedSandbox, render_bounded

_ENVIRONMENT = BoundedSandbox()
_MAX_TEMPLATE = 10 * MAX_SOURCE


@lru_cache(maxsize=1024)
def _compile(template: str) -> Template:
    return _ENVIRONMENT.from_string(template)


class Jinja2TemplateEngine(TemplateEngine):
    """Renders ``{{ state.order_id }}``-style templates.

    Names are read as plain data (a pydantic model as its ``model_dump(mode="json")``), so a template
    can reach values and nothing behind them; unsafe attributes and methods, and values or output
    past the sandbox's bounds (docs/security.md), are refused with a TemplateError.
    """

    def render(self, template: str, context: Mapping[str, Any] | None = None) -> str:
        """Render ``template`` with the constructor's names plus ``context``."""
        if len(template) > _MAX_TEMPLATE:
            raise TemplateError(
                f"The template '{template[:60]}...' is longer than {_MAX_TEMPLATE:,} characters."
            )
        try:
            names = {
                name: to_plain(value, name)
                for name, value in {**self.context, **(context or {})}.items()
            }
            compiled = _compile(template)
            return render_bounded(lambda: compiled.generate(names))
        except (SecurityError, SandboxLimitError) as exc:
            raise TemplateError(f"The template '{template}' is not allowed: {exc}.") from None
        except PlainDataError as exc:
            raise TemplateError(
                f"The template '{template}' cannot read its names: {exc}."
            ) from None
        except JinjaTemplateError as exc:
            raise TemplateError(
                f"The template '{template}' cannot be rendered: {exc}. Check the names it uses "
                f"against the state fields."
            ) from None
        except Exception as exc:  # TypeError, ZeroDivisionError, ... from plain-data operations
            raise TemplateError(
                f"The template '{template}' failed: {type(exc).__name__}: {exc}."
            ) from None
