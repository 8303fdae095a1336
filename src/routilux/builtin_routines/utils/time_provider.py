"""TimeProvider: emits the current time in several formats."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from routilux.routine import Routine


class TimeProvider(Routine):
    """Emits the time on request.

    Slot ``request``; event ``output`` (time_string, timestamp, datetime, formatted).
    Config: ``format`` ("iso", "timestamp", "readable" or "custom"), ``custom_format``
    ("%Y-%m-%d %H:%M:%S"), ``include_weekday`` (True, readable format), ``locale``
    (None; kept for 0.10 code, names are English).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_config(
            format="iso", custom_format="%Y-%m-%d %H:%M:%S", include_weekday=True, locale=None
        )
        self.trigger_slot = self.define_slot("request", handler=self._handle_request)
        self.output_event = self.define_event(
            "output", ["time_string", "timestamp", "datetime", "formatted"]
        )

    def _handle_request(self, **kwargs: Any) -> None:
        now = datetime.now()
        text = self.format_time(now)
        self.emit(
            "output", time_string=text, timestamp=time.time(), datetime=now.isoformat(),
            formatted=text,
        )  # fmt: skip

    def format_time(self, moment: datetime) -> str:
        """Formats ``moment`` per the config."""
        kind = self.get_config("format", "iso")
        if kind == "timestamp":
            return str(moment.timestamp())
        if kind == "readable":
            pattern = "%B %d, %Y %H:%M:%S"
            if self.get_config("include_weekday", True):
                pattern = "%A, " + pattern
            return moment.strftime(pattern)
        if kind == "custom":
            return moment.strftime(str(self.get_config("custom_format", "%Y-%m-%d %H:%M:%S")))
        return moment.isoformat()
