"""State models and functions of the CRON_SCHEDULE example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class SignupState(BaseModel):
    user_id: str
    schedule: dict[str, Any] | None = None


class ReportState(BaseModel):
    user_id: str
    report_type: str
    lines: int = 0


def build_report(state: ReportState, context: Any) -> dict[str, Any]:
    return {"lines": 3}
