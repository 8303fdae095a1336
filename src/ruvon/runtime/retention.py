"""Retention: delete ended workflows (and their rows in the tables that refer to them) after a time.

``ruvon purge --status COMPLETED --older-than 30d`` runs :func:`purge` once; ``ruvon serve
--retention COMPLETED=30d,FAILED=90d`` runs it every hour (:func:`retention_loop`). Nothing is
purged unless asked: retention is off by default.

A workflow's age is the time since it ended (``ended_at``, written by the save that ended it and
cleared if it runs again). Only ended statuses can be purged, and never a workflow whose lease is
live. Deletion goes in batches of :data:`BATCH` workflows, one transaction each, so a large purge
neither holds long locks nor needs much memory.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ruvon.errors import ConfigurationError, PersistenceError
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.leases import TERMINAL_STATUSES

_log = logging.getLogger("ruvon.runtime")

BATCH = 500
"""Workflows deleted per transaction."""
EVERY_SECONDS = 3600.0
"""How often ``ruvon serve --retention`` purges."""

DEPENDENT_TABLES: tuple[tuple[str, str], ...] = (
    ("task_results", "workflow_id"),
    ("execution_log", "workflow_id"),
    ("ruvon_idempotency", "workflow_id"),
    ("ruvon_signals", "workflow_id"),
)
"""The tables whose rows belong to a workflow: ``(table, column holding the workflow id)``."""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str, what: str = "--older-than") -> float:
    """Seconds of a duration like ``30d``, ``12h``, ``90m``, ``45s`` or ``2w``.

    Raises:
        ConfigurationError: Not such a duration.
    """
    match = _DURATION.match(str(text))
    if match is None:
        raise ConfigurationError(
            f"{what} {text!r} is not a duration; write a number and a unit: 30d (days), 12h "
            f"(hours), 90m (minutes), 45s (seconds) or 2w (weeks)."
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def check_statuses(statuses: Sequence[str]) -> list[str]:
    """The statuses upper-cased; each must be an ended one.

    Raises:
        ConfigurationError: A status is unknown or not an ended one.
    """
    checked = []
    for status in statuses:
        upper = status.strip().upper()
        if upper not in TERMINAL_STATUSES:
            raise ConfigurationError(
                f"Only ended workflows can be purged, and {status!r} is not an ended status; use "
                f"{', '.join(TERMINAL_STATUSES)}."
            )
        checked.append(upper)
    if not checked:
        raise ConfigurationError(
            "Name at least one status to purge (--status COMPLETED; repeat it for more)."
        )
    return checked


def parse_retention(text: str) -> dict[str, float]:
    """``COMPLETED=30d,FAILED=90d`` as ``{status: seconds}``.

    Raises:
        ConfigurationError: A part is not ``STATUS=DURATION`` or names a status that does not end.
    """
    rules: dict[str, float] = {}
    for part in (p for p in text.split(",") if p.strip()):
        status, sep, duration = part.partition("=")
        if not sep:
            raise ConfigurationError(
                f"--retention part {part.strip()!r} is not STATUS=DURATION; write e.g. "
                f"COMPLETED=30d,FAILED=90d."
            )
        (checked,) = check_statuses([status])
        rules[checked] = parse_duration(duration, f"--retention {checked}")
    if not rules:
        raise ConfigurationError("--retention is empty; write e.g. COMPLETED=30d,FAILED=90d.")
    return rules


@dataclass(slots=True)
class PurgeResult:
    """What a purge deleted (or, with ``dry_run``, would delete), by status."""

    by_status: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    cutoff: float = 0.0

    @property
    def total(self) -> int:
        """All workflows counted."""
        return sum(self.by_status.values())


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


async def purge(
    persistence: PersistenceProvider,
    statuses: Sequence[str],
    older_than: float,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    now: float | None = None,
) -> PurgeResult:
    """Delete workflows in ``statuses`` that ended more than ``older_than`` seconds ago, with their
    task results, log entries and idempotency keys.

    Raises:
        ConfigurationError: A status does not end, or the store keeps no leases (in memory).
    """
    from ruvon.runtime.schedules import _dialect

    checked = check_statuses(statuses)
    if older_than < 0:
        raise ConfigurationError(f"--older-than must not be negative (got {older_than} s).")
    moment = time.time() if now is None else now
    cutoff = moment - older_than
    dialect = _dialect(persistence)
    result = PurgeResult(dict.fromkeys(checked, 0), dry_run=dry_run, cutoff=cutoff)
    which = (
        f"status IN ({_marks(len(checked))}) AND ended_at < %s "
        f"AND (owner IS NULL OR lease_expires_at < %s)"
    )
    params = (*checked, cutoff, moment)
    if dry_run:
        async with dialect.statement("count workflows to purge") as tx:
            rows = await tx.rows(
                f"SELECT status, COUNT(*) FROM workflows WHERE {which} GROUP BY status", params
            )
        result.by_status.update({str(status): int(count) for status, count in rows})
        return result
    while True:
        async with dialect.transaction("purge ended workflows") as tx:
            rows = await tx.rows(
                f"SELECT id, status FROM workflows WHERE {which} ORDER BY ended_at "
                f"LIMIT %s{dialect.skip_locked}",
                (*params, batch),
            )
            ids = [str(row[0]) for row in rows]
            if ids:
                marks = _marks(len(ids))
                for table, column in DEPENDENT_TABLES:
                    await tx.count(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)
                await tx.count(f"DELETE FROM workflows WHERE id IN ({marks})", ids)
        for _, status in rows:
            result.by_status[str(status)] = result.by_status.get(str(status), 0) + 1
        if len(ids) < batch:
            return result


async def apply_retention(
    persistence: PersistenceProvider, rules: Mapping[str, float], *, now: float | None = None
) -> PurgeResult:
    """Purge once by every ``status -> seconds`` rule; return the combined counts."""
    total = PurgeResult()
    for status, seconds in rules.items():
        done = await purge(persistence, [status], seconds, now=now)
        for key, count in done.by_status.items():
            total.by_status[key] = total.by_status.get(key, 0) + count
    return total


async def retention_loop(
    persistence: PersistenceProvider,
    rules: Mapping[str, float],
    *,
    stopping: Callable[[], bool],
    every: float = EVERY_SECONDS,
) -> None:
    """Apply ``rules`` now and then every ``every`` seconds until ``stopping()``."""
    from ruvon.runtime.schedules import _sleep

    while not stopping():
        try:
            done = await apply_retention(persistence, rules)
            if done.total:
                _log.info("retention purged %d ended workflows %s", done.total, done.by_status)
        except (PersistenceError, ConfigurationError) as exc:
            _log.warning("retention could not purge now: %s", exc)
        await _sleep(every, stopping)
