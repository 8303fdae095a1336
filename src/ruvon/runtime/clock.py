"""The clock of timers and signal timeouts: ``time.time()``, replaceable in tests.

Everything that decides whether a sleep or a signal wait is due reads :func:`now`; a test swaps it
with :func:`use` (``with clock.use(fake): ...``) instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_now: Callable[[], float] = time.time


def now() -> float:
    """The current time in seconds since the epoch (``time.time()`` unless a test replaced it)."""
    return _now()


@contextmanager
def use(source: Callable[[], float]) -> Iterator[None]:
    """Read the time from ``source`` inside the block (for tests with a fake clock)."""
    global _now
    old, _now = _now, source
    try:
        yield
    finally:
        _now = old


class FakeClock:
    """A clock that moves only when told: ``clock = FakeClock(); clock.advance(30)``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.value += seconds
