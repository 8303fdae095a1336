"""The "Getting Started" page's step functions (a dict state: ``state.get``)."""

from __future__ import annotations

from typing import Any

from ruvon.models import StepContext


def greet_user(state: Any, context: StepContext, name: str = "World") -> dict[str, Any]:
    return {"greeting": f"Hello, {name}!"}


def say_goodbye(state: Any, context: StepContext) -> dict[str, Any]:
    name = state.get("name", "World")
    return {"farewell": f"Goodbye, {name}! See you next time."}
