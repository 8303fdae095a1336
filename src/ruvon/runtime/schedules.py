"""Schedules: start a workflow type on a cron expression, exactly once per tick across all workers.

A schedule is a row of ``ruvon_schedules``: a cron expression (5 fields, or 6 with seconds first),
a time zone, the workflow type and data to start, a catch-up policy and ``next_run_at``, the first
tick not started yet. Every serving worker (``ruvon serve``) runs :func:`schedule_loop`, which
sleeps until the earliest ``next_run_at`` (one indexed query; at most ``bound`` seconds) and then
calls :func:`run_due`:

1. claim the due rows (a conditional ``UPDATE``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
   write lock on SQLite) for ``claim_seconds``;
2. start each tick's workflow with the idempotency key ``schedule:<id>:<tick>``, so a tick that a
   dead worker started half-way is never started twice;
3. advance ``next_run_at`` with a compare-and-set on the claim and the old ``next_run_at``.

Catch-up policies, for ticks that passed while no worker ran:

``coalesce`` (default)
    start one workflow, for the most recent missed tick;
``all``
    start one per missed tick, at most ``max_catch_up`` (the most recent ones);
``none``
    start nothing for missed ticks; a tick counts as missed when it is more than
    ``grace_seconds`` (60 by default) old when a worker gets to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ruvon.errors import (
    ConfigurationError,
    PersistenceError,
    RuvonError,
    ScheduleError,
    ScheduleNotFound,
    WorkflowNotFound,
)
from ruvon.providers.persistence import PersistenceProvider

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder
    from ruvon.runtime.sql_leases import Dialect

_log = logging.getLogger("ruvon.runtime")

CATCH_UP_POLICIES = ("coalesce", "all", "none")
DEFAULT_CATCH_UP = "coalesce"
DEFAULT_MAX_CATCH_UP = 100
MAX_CATCH_UP_LIMIT = 10_000
DEFAULT_GRACE_SECONDS = 60.0
CLAIM_SECONDS = 30.0
"""How long a worker holds a due schedule while it starts its workflows (then another may)."""
LOOP_BOUND_SECONDS = 1.0
"""The longest a worker sleeps between looks at the schedules (a schedule added elsewhere)."""
MAX_DATA_BYTES = 256 * 1024
MAX_NAME_LENGTH = 200

_COLUMNS = (
    "id, name, workflow_type, cron, timezone, data, catch_up, max_catch_up, grace_seconds, "
    "next_run_at, last_run_at, last_workflow_id, runs, claimed_by, claim_expires_at, created_at, "
    "created_by"
)


@dataclass(slots=True)
class Schedule:
    """A stored schedule (see the module docs for the fields' meaning)."""

    id: str
    name: str
    workflow_type: str
    cron: str
    timezone: str
    data: dict[str, Any]
    catch_up: str
    max_catch_up: int
    grace_seconds: float
    next_run_at: float
    last_run_at: float | None = None
    last_workflow_id: str | None = None
    runs: int = 0
    claimed_by: str | None = None
    claim_expires_at: float | None = None
    created_at: float = 0.0
    created_by: str = "api"

    def as_json(self) -> dict[str, Any]:
        """The schedule as plain JSON values."""
        return {
            "id": self.id,
            "name": self.name,
            "workflow_type": self.workflow_type,
            "cron": self.cron,
            "timezone": self.timezone,
            "data": self.data,
            "catch_up": self.catch_up,
            "max_catch_up": self.max_catch_up,
            "grace_seconds": self.grace_seconds,
            "next_run_at": self.next_run_at,
            "last_run_at": self.last_run_at,
            "last_workflow_id": self.last_workflow_id,
            "runs": self.runs,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


@dataclass(frozen=True, slots=True)
class Fired:
    """One tick started by :func:`run_due`."""

    schedule: str
    tick: float
    workflow_id: str
    created: bool


# -- cron expressions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cron:
    """A validated cron expression in a time zone."""

    expression: str
    timezone: str
    seconds: bool = field(default=False)

    def _iter(self, start: float) -> Any:
        from croniter import croniter

        zone = _zone(self.timezone)
        base = dt.datetime.fromtimestamp(start, zone)
        return croniter(self.expression, base, second_at_beginning=self.seconds)

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""
        return float(self._iter(moment).get_next(float))

    def due(self, start: float, now: float, limit: int) -> list[float]:
        """Up to ``limit`` most recent ticks in ``[start, now]``, oldest first."""
        found: list[float] = []
        if limit <= 0 or start > now:
            return found
        it = self._iter(math.floor(now) + 1)
        while len(found) < limit:
            tick = float(it.get_prev(float))
            if tick < start:
                break
            found.append(tick)
        return found[::-1]


def _zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"The time zone {name!r} is unknown ({exc}). Use an IANA name such as "
            f"'Europe/Berlin' or 'UTC'."
        ) from None


def parse_cron(expression: str, timezone: str = "UTC") -> Cron:
    """Validate a cron expression: 5 fields (minute hour day month weekday), 6 fields with seconds
    first (``*/5 * * * * *``: every 5 seconds), or ``@hourly``/``@daily``/``@weekly``/...

    Raises:
        ScheduleError: The expression or the time zone is invalid (the message says which field).
    """
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - a core dependency
        raise ConfigurationError(
            "Schedules need the croniter package; pip install croniter."
        ) from None
    text = " ".join(str(expression).split())
    if not text or len(text) > 200:
        raise ScheduleError(
            f"The cron expression {expression!r} is empty or too long. Write 5 fields "
            f"('*/5 * * * *': every 5 minutes) or 6 with seconds first ('*/10 * * * * *')."
        )
    fields = text.split(" ")
    if not text.startswith("@") and len(fields) not in (5, 6):
        raise ScheduleError(
            f"The cron expression {expression!r} has {len(fields)} fields; write 5 (minute hour "
            f"day-of-month month day-of-week, e.g. '*/5 * * * *') or 6 with seconds first "
            f"(e.g. '*/10 * * * * *')."
        )
    seconds = len(fields) == 6
    _zone(timezone)
    if not croniter.is_valid(text, second_at_beginning=seconds):
        names = ["minute", "hour", "day-of-month", "month", "day-of-week"]
        if seconds:
            names = ["second", *names]
        bad = _bad_field(text, fields, names, seconds)
        raise ScheduleError(
            f"The cron expression {expression!r} is invalid{bad}. Each field takes a number, a "
            f"range (1-5), a list (1,15), a step (*/5) or '*'; see 'ruvon schedule add --help'."
        )
    cron = Cron(text, timezone, seconds)
    try:
        cron.next_after(time.time())
    except Exception as exc:  # e.g. '0 0 30 2 *' never happens
        raise ScheduleError(
            f"The cron expression {expression!r} never fires ({exc}). Check the day and month."
        ) from None
    return cron


def _bad_field(text: str, fields: list[str], names: list[str], seconds: bool) -> str:
    from croniter import croniter

    if text.startswith("@"):
        return " (unknown @ name: use @yearly, @monthly, @weekly, @daily, @hourly)"
    for index, name in enumerate(names):
        probe = ["*"] * len(fields)
        probe[index] = fields[index]
        if not croniter.is_valid(" ".join(probe), second_at_beginning=seconds):
            return f": the {name} field {fields[index]!r} is not valid"
    return ""


def check_policy(catch_up: str, max_catch_up: int, grace_seconds: float) -> None:
    """Raise ScheduleError for an unknown policy or out-of-range limits."""
    if catch_up not in CATCH_UP_POLICIES:
        raise ScheduleError(
            f"The catch-up policy {catch_up!r} is unknown; use one of "
            f"{', '.join(CATCH_UP_POLICIES)} (coalesce: one run for the latest missed tick)."
        )
    if not 1 <= max_catch_up <= MAX_CATCH_UP_LIMIT:
        raise ScheduleError(
            f"max_catch_up={max_catch_up} is out of range; use 1 to {MAX_CATCH_UP_LIMIT}."
        )
    if not 0 <= grace_seconds <= 86_400:
        raise ScheduleError(f"grace_seconds={grace_seconds} is out of range; use 0 to 86400.")


# -- the store -------------------------------------------------------------------------------------
def _dialect(persistence: PersistenceProvider) -> Dialect:
    from ruvon.runtime.leases import lease_store_for
    from ruvon.runtime.session import unwrap
    from ruvon.runtime.sql_leases import SqlLeaseStore

    store = lease_store_for(unwrap(persistence))
    if not isinstance(store, SqlLeaseStore):
        raise ConfigurationError(
            f"{type(persistence).__name__} cannot keep schedules: they live in the database that "
            f"serving workers share. Use a SQLite file or PostgreSQL."
        )
    return store._db


def _row(dialect: Dialect, row: Sequence[Any]) -> Schedule:
    data = dialect.from_json(row[5])
    return Schedule(
        id=str(row[0]),
        name=str(row[1]),
        workflow_type=str(row[2]),
        cron=str(row[3]),
        timezone=str(row[4]),
        data=dict(data) if isinstance(data, dict) else {},
        catch_up=str(row[6]),
        max_catch_up=int(row[7]),
        grace_seconds=float(row[8]),
        next_run_at=float(row[9]),
        last_run_at=None if row[10] is None else float(row[10]),
        last_workflow_id=None if row[11] is None else str(row[11]),
        runs=int(row[12]),
        claimed_by=None if row[13] is None else str(row[13]),
        claim_expires_at=None if row[14] is None else float(row[14]),
        created_at=float(row[15]),
        created_by=str(row[16]),
    )


async def add_schedule(
    persistence: PersistenceProvider,
    workflow_type: str,
    cron: str,
    data: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    catch_up: str = DEFAULT_CATCH_UP,
    max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    builder: WorkflowBuilder | None = None,
    replace: bool = False,
    created_by: str = "api",
    now: float | None = None,
) -> Schedule:
    """Store a schedule that starts ``workflow_type`` with ``data`` on every tick of ``cron``.

    Args:
        name: Unique name (default: ``<type>-<first 8 characters of the id>``).
        builder: Checks that the workflow type exists and that ``data`` fits its state model.
        replace: Replace a schedule of the same name (its run count is kept) instead of failing.
        now: The current time (tests); the first tick is the first after it.

    Raises:
        ScheduleError: Invalid cron, time zone, policy, name or data; or the name exists.
        WorkflowNotFound: ``builder`` knows no such workflow type.
    """
    parsed = parse_cron(cron, timezone)
    check_policy(catch_up, max_catch_up, grace_seconds)
    payload = dict(data or {})
    from ruvon.runtime.leases import dump_json

    if len(dump_json(payload).encode()) > MAX_DATA_BYTES:
        raise ScheduleError(
            f"The data of the schedule is larger than {MAX_DATA_BYTES // 1024} KiB; keep large "
            f"inputs elsewhere and pass a reference."
        )
    if builder is not None:
        _check_type(builder, workflow_type, payload)
    schedule_id = str(uuid.uuid4())
    label = name if name is not None else f"{workflow_type}-{schedule_id[:8]}"
    if not label or len(label) > MAX_NAME_LENGTH or label != label.strip():
        raise ScheduleError(
            f"The schedule name {label!r} is empty, too long (over {MAX_NAME_LENGTH} characters) "
            f"or has surrounding spaces; choose another --name."
        )
    moment = time.time() if now is None else now
    dialect = _dialect(persistence)
    record = Schedule(
        id=schedule_id,
        name=label,
        workflow_type=workflow_type,
        cron=parsed.expression,
        timezone=timezone,
        data=payload,
        catch_up=catch_up,
        max_catch_up=max_catch_up,
        grace_seconds=float(grace_seconds),
        next_run_at=parsed.next_after(moment),
        created_at=moment,
        created_by=created_by,
    )
    values = (
        record.id,
        record.name,
        record.workflow_type,
        record.cron,
        record.timezone,
        dialect.to_json(record.data),
        record.catch_up,
        record.max_catch_up,
        record.grace_seconds,
        record.next_run_at,
        record.runs,
        record.created_at,
        record.created_by,
    )
    insert = (
        f"INSERT INTO ruvon_schedules ({_COLUMNS}) VALUES "
        f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, %s, NULL, NULL, %s, %s) "
        f"ON CONFLICT (name) DO "
    )
    if replace:  # one statement: concurrent replaces of one name leave one schedule
        insert += (
            "UPDATE SET workflow_type = excluded.workflow_type, cron = excluded.cron, "
            "timezone = excluded.timezone, data = excluded.data, catch_up = excluded.catch_up, "
            "max_catch_up = excluded.max_catch_up, grace_seconds = excluded.grace_seconds, "
            "next_run_at = excluded.next_run_at, claimed_by = NULL, claim_expires_at = NULL, "
            "created_by = excluded.created_by"
        )
    else:
        insert += "NOTHING"
    async with dialect.transaction(f"add the schedule '{label}'") as tx:
        rows = await tx.rows(insert + " RETURNING id, runs, created_at", values)
        if not rows:
            found = await tx.rows("SELECT id FROM ruvon_schedules WHERE name = %s", (label,))
            raise ScheduleError(
                f"A schedule named {label!r} exists already (id {found[0][0] if found else '?'}). "
                f"Remove it first ('ruvon schedule remove {label}') or choose another --name."
            )
    record.id, record.runs, record.created_at = str(rows[0][0]), int(rows[0][1]), float(rows[0][2])
    return record


def _check_type(builder: WorkflowBuilder, workflow_type: str, data: dict[str, Any]) -> None:
    try:
        definition = builder.get_definition(workflow_type)
    except WorkflowNotFound as exc:
        raise WorkflowNotFound(
            f"A schedule cannot start the workflow type {workflow_type!r}: {exc}"
        ) from None
    model = getattr(definition, "state_model", None)
    validate = getattr(model, "model_validate", None)
    if validate is None:
        return
    from pydantic import ValidationError

    try:
        validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
        message = errors[0]["msg"] if errors else str(exc)
        raise ScheduleError(
            f"The schedule's data does not fit the state model of {workflow_type!r}: field "
            f"{where or '(root)'!r}: {message}. Fix --data."
        ) from None


async def list_schedules(persistence: PersistenceProvider) -> list[Schedule]:
    """Every stored schedule, by name."""
    dialect = _dialect(persistence)
    async with dialect.statement("list schedules") as tx:
        rows = await tx.rows(f"SELECT {_COLUMNS} FROM ruvon_schedules ORDER BY name")
    return [_row(dialect, row) for row in rows]


async def get_schedule(persistence: PersistenceProvider, name_or_id: str) -> Schedule:
    """The schedule of that name (or id).

    Raises:
        ScheduleNotFound: None is stored.
    """
    dialect = _dialect(persistence)
    async with dialect.statement(f"read the schedule '{name_or_id}'") as tx:
        rows = await tx.rows(
            f"SELECT {_COLUMNS} FROM ruvon_schedules WHERE name = %s OR id = %s",
            (name_or_id, name_or_id),
        )
    return _found(dialect, rows, name_or_id)


def _found(dialect: Dialect, rows: list[tuple[Any, ...]], name_or_id: str) -> Schedule:
    """The schedule of the first row, or ScheduleNotFound naming ``name_or_id``."""
    if not rows:
        raise ScheduleNotFound(
            f"No schedule named (or with id) {name_or_id!r} is stored; 'ruvon schedule list' "
            f"shows the stored ones."
        )
    return _row(dialect, rows[0])


async def remove_schedule(persistence: PersistenceProvider, name_or_id: str) -> Schedule:
    """Delete the schedule of that name (or id); return it. Started workflows are kept.

    Raises:
        ScheduleNotFound: None is stored.
    """
    dialect = _dialect(persistence)
    async with dialect.transaction(f"remove the schedule '{name_or_id}'") as tx:
        rows = await tx.rows(
            f"DELETE FROM ruvon_schedules WHERE name = %s OR id = %s RETURNING {_COLUMNS}",
            (name_or_id, name_or_id),
        )
    return _found(dialect, rows, name_or_id)


async def next_due(persistence: PersistenceProvider) -> float | None:
    """The earliest ``next_run_at`` of all schedules (one indexed query), or None."""
    dialect = _dialect(persistence)
    async with dialect.statement("find the next due schedule") as tx:
        rows = await tx.rows("SELECT MIN(next_run_at) FROM ruvon_schedules")
    return None if not rows or rows[0][0] is None else float(rows[0][0])


# -- firing ----------------------------------------------------------------------------------------
def ticks_to_start(schedule: Schedule, now: float) -> tuple[list[float], float]:
    """The ticks of a due schedule to start now under its catch-up policy, and the next
    ``next_run_at`` (the first tick after ``now``)."""
    cron = Cron(schedule.cron, schedule.timezone, len(schedule.cron.split(" ")) == 6)
    following = cron.next_after(max(now, schedule.next_run_at))
    if schedule.catch_up == "all":
        return cron.due(schedule.next_run_at, now, schedule.max_catch_up), following
    latest = cron.due(schedule.next_run_at, now, 1)
    if schedule.catch_up == "none":
        latest = [tick for tick in latest if now - tick <= schedule.grace_seconds]
    return latest, following


def tick_key(schedule_id: str, tick: float) -> str:
    """The idempotency key of one tick of one schedule."""
    return f"schedule:{schedule_id}:{tick:.3f}"


async def run_due(
    builder: WorkflowBuilder,
    persistence: PersistenceProvider,
    *,
    owner: str,
    now: float | None = None,
    limit: int = 20,
    claim_seconds: float = CLAIM_SECONDS,
) -> list[Fired]:
    """Start the workflows of every due schedule (see the module docs); return what was started.

    Safe to call from any number of processes at once: each tick starts one workflow.
    """
    moment = time.time() if now is None else now
    dialect = _dialect(persistence)
    async with dialect.statement("claim due schedules") as tx:
        rows = await tx.rows(
            f"UPDATE ruvon_schedules SET claimed_by = %s, claim_expires_at = %s WHERE id IN ("
            f"SELECT id FROM ruvon_schedules WHERE next_run_at <= %s AND (claimed_by IS NULL OR "
            f"claim_expires_at < %s) ORDER BY next_run_at LIMIT %s{dialect.skip_locked}) "
            f"RETURNING {_COLUMNS}",
            (owner, moment + claim_seconds, moment, moment, limit),
        )
    fired: list[Fired] = []
    for row in rows:
        schedule = _row(dialect, row)
        try:
            fired += await _fire(builder, persistence, dialect, schedule, owner, moment)
        except (PersistenceError, asyncio.CancelledError):
            raise
        except RuvonError as exc:
            _log.error(
                "schedule %r (%s) could not start workflow type %r: %s; it tries again at its "
                "next tick",
                schedule.name,
                schedule.id,
                schedule.workflow_type,
                exc,
            )
            await _advance(dialect, schedule, owner, [], moment, None)
    return fired


async def _fire(
    builder: WorkflowBuilder,
    persistence: PersistenceProvider,
    dialect: Dialect,
    schedule: Schedule,
    owner: str,
    now: float,
) -> list[Fired]:
    from ruvon.runtime.start import start_workflow

    ticks, _ = ticks_to_start(schedule, now)
    fired = []
    for tick in ticks:
        started = await start_workflow(
            builder,
            schedule.workflow_type,
            schedule.data,
            persistence_provider=persistence,
            idempotency_key=tick_key(schedule.id, tick),
        )
        fired.append(Fired(schedule.name, tick, started.workflow_id, started.created))
        _log.info(
            "schedule %r: tick %s started workflow %s%s",
            schedule.name,
            dt.datetime.fromtimestamp(tick, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            started.workflow_id,
            "" if started.created else " (already started before)",
        )
    last = fired[-1] if fired else None
    await _advance(dialect, schedule, owner, ticks, now, last)
    return fired


async def _advance(
    dialect: Dialect,
    schedule: Schedule,
    owner: str,
    ticks: list[float],
    now: float,
    last: Fired | None,
) -> None:
    """Move ``next_run_at`` past ``now`` if this worker still holds the claim (compare-and-set)."""
    _, following = ticks_to_start(schedule, now)
    async with dialect.statement(f"advance the schedule '{schedule.name}'") as tx:
        changed = await tx.count(
            "UPDATE ruvon_schedules SET next_run_at = %s, claimed_by = NULL, "
            "claim_expires_at = NULL, runs = runs + %s, "
            "last_run_at = COALESCE(%s, last_run_at), "
            "last_workflow_id = COALESCE(%s, last_workflow_id) "
            "WHERE id = %s AND claimed_by = %s AND next_run_at = %s",
            (
                following,
                len(ticks),
                ticks[-1] if ticks else None,
                last.workflow_id if last else None,
                schedule.id,
                owner,
                schedule.next_run_at,
            ),
        )
    if not changed:
        _log.warning(
            "schedule %r changed or was claimed by another worker while this one started its "
            "ticks; the idempotency keys kept each tick to one workflow",
            schedule.name,
        )


async def schedule_loop(
    builder: WorkflowBuilder,
    persistence: PersistenceProvider,
    *,
    owner: str,
    stopping: Callable[[], bool],
    bound: float = LOOP_BOUND_SECONDS,
    claim_seconds: float = CLAIM_SECONDS,
    clock: Callable[[], float] = time.time,
) -> None:
    """A serving worker's schedule loop: sleep until the next due tick (at most ``bound`` s),
    start what is due, repeat until ``stopping()``.

    While nothing is due it makes one query per ``bound`` seconds.
    """
    try:
        _dialect(persistence)
    except ConfigurationError:
        _log.debug("worker %s: this store keeps no schedules", owner)
        return
    backoff = 0.05
    while not stopping():
        wait = bound
        try:
            due = await next_due(persistence)
            now = clock()
            if due is not None and due <= now:
                fired = await run_due(
                    builder, persistence, owner=owner, now=now, claim_seconds=claim_seconds
                )
                # Another worker holds the due claim: look again a little later, not at once.
                wait = 0.0 if fired else backoff
                backoff = 0.05 if fired else min(backoff * 2, bound)
            elif due is not None:
                wait = min(due - now, bound)
        except PersistenceError as exc:
            _log.warning("worker %s cannot run schedules now: %s", owner, exc)
        except Exception:  # never let the loop die quietly; try again after the bound
            _log.exception("worker %s: running due schedules failed", owner)
        if wait > 0:
            await _sleep(wait, stopping)


async def _sleep(seconds: float, stopping: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while not stopping():
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.25))
