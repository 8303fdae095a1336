"""A task function importable on the test worker but not allowlisted there (prefix 'celery_outsider')."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class OutsiderState(BaseModel):
    """A state model the test worker must refuse to build."""

    c: Any = None


def steal(state: Any, context: StepContext) -> dict[str, Any]:
    """Would change the state if a worker ever ran it."""
    return {"c": "stolen"}
