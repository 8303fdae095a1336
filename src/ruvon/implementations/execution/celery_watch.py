"""Watching a Celery step while it waits: a result backend that stays down, workers that died.

Both run on the executor's worker threads, inside its polling loop (see ``celery.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from ruvon.errors import ExecutorError

log = logging.getLogger("ruvon.celery")

#: Seconds between two warnings about the same unreachable backend.
WARN_EVERY = 10.0


class BackendWatch:
    """Counts failed polls of one step: a WARNING at most every ``WARN_EVERY`` seconds, and an
    :class:`ExecutorError` once the backend has failed without a break for ``give_up_after`` s.

    Args:
        step_name: The step, for messages.
        url: The result backend's URL, for messages.
        give_up_after: Seconds of failures after which the step fails.
    """

    def __init__(self, step_name: str, url: str, give_up_after: float) -> None:
        self.step_name = step_name
        self.url = url
        self.give_up_after = give_up_after
        self.down_since: float | None = None
        self._warned_at = 0.0
        self._failures = 0

    def ok(self) -> None:
        """A poll worked: the backend is back (if it was away)."""
        if self.down_since is not None:
            log.warning(
                "The Celery result backend answers again (step '%s', after %d failed polls).",
                self.step_name,
                self._failures,
            )
        self.down_since, self._failures = None, 0

    def failed(self, error: BaseException) -> None:
        """A poll failed.

        Raises:
            ExecutorError: The backend has failed for ``give_up_after`` seconds.
        """
        now = time.monotonic()
        if self.down_since is None:
            self.down_since, self._warned_at = now, 0.0
        self._failures += 1
        down = now - self.down_since
        if down >= self.give_up_after:
            raise ExecutorError(
                f"Step '{self.step_name}': the Celery result backend at {self.url} has not "
                f"answered for {down:.0f} s ({type(error).__name__}: {error}). Start Redis (or "
                f"fix result_backend / $RUVON_CELERY_RESULT_BACKEND), then run `ruvon retry "
                f"<workflow id>`: tasks whose results were saved do not run again."
            ) from error
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning(
                "Cannot read Celery results of step '%s' from %s (%s: %s); retrying, the step "
                "fails if this lasts %g s.",
                self.step_name,
                self.url,
                type(error).__name__,
                error,
                self.give_up_after,
            )


class WorkerWatch:
    """Finds messages STARTED on a worker that stopped answering pings (e.g. ``kill -9``).

    Every ``interval`` seconds the workers named in the STARTED results are pinged; a worker
    missing two checks in a row counts as dead. (A worker with ``--pool solo`` busy in a long task
    cannot answer pings either: use prefork or threads with this executor.)

    Args:
        app: The Celery app.
        interval: Seconds between checks.
        ping_timeout: Seconds to wait for ping replies.
    """

    def __init__(self, app: Any, interval: float, ping_timeout: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self.ping_timeout = ping_timeout
        self._next = time.monotonic() + interval
        self._missed: dict[str, int] = {}

    def lost(self, started: Sequence[Any]) -> list[Any]:
        """Of the ``AsyncResult`` handles in ``started``, those whose worker is dead."""
        now = time.monotonic()
        if not started or now < self._next:
            return []
        self._next = now + self.interval
        by_host: dict[str, list[Any]] = {}
        for result in started:
            info = result.info  # while STARTED: {"pid": ..., "hostname": ...}
            host = info.get("hostname") if isinstance(info, dict) else None
            if isinstance(host, str):
                by_host.setdefault(host, []).append(result)
        if not by_host:
            return []
        replies = self.app.control.ping(destination=list(by_host), timeout=self.ping_timeout)
        alive = {name for reply in replies or [] for name in reply}
        lost: list[Any] = []
        for host, results in by_host.items():
            if host in alive:
                self._missed.pop(host, None)
                continue
            self._missed[host] = self._missed.get(host, 0) + 1
            if self._missed[host] >= 2:
                log.warning(
                    "Celery worker %s does not answer pings: sending its %d message(s) again.",
                    host,
                    len(results),
                )
                lost += results
        return lost
