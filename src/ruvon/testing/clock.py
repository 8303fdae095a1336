"""A fake clock for tests: time moves only when the test (or a fake sleep) moves it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ruvon.errors import ConfigurationError

#: 2026-01-01T00:00:00Z: a fixed, readable start so test output does not depend on today.
DEFAULT_START = 1_767_225_600.0


class FakeClock:
    """A clock owned by a test harness.

    ``time()`` and ``monotonic()`` return the fake time; ``sleep()`` advances it at once instead of
    waiting. The harness makes the engine read this clock (``ruvon.runtime.clock``) while it runs
    steps, so SLEEP steps, ``WorkflowSleepDirective`` and signal timeouts follow it: ``run()``
    moves the clock to a sleeping workflow's due time at once. Calling the clock returns ``time()``.

    Args:
        start: The initial time in seconds since the epoch (default 2026-01-01T00:00:00Z).
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._origin = float(start)
        #: Every duration passed to ``sleep``, in order.
        self.sleeps: list[float] = []

    def time(self) -> float:
        """The fake wall-clock time in seconds since the epoch."""
        return self._now

    def __call__(self) -> float:
        """``time()``: the clock as a time source (see ``ruvon.runtime.clock.use``)."""
        return self._now

    def monotonic(self) -> float:
        """Seconds since the clock was created (never goes back)."""
        return self._now - self._origin

    def now(self) -> datetime:
        """The fake time as an aware UTC datetime."""
        return datetime.fromtimestamp(self._now, UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        Raises:
            ConfigurationError: ``seconds`` is negative (a clock never goes back).
        """
        if seconds < 0:
            raise ConfigurationError(
                f"FakeClock.advance({seconds}) would move time backwards; pass a duration >= 0."
            )
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, advance the clock by ``seconds`` and yield to the event loop once."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"<FakeClock {self.now().isoformat()}>"
