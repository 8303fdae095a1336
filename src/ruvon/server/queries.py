"""Reads the server needs beyond the persistence interface: pages by cursor, counts by status.

On the SQL stores these are single indexed queries; on any other provider they fall back to
``list_workflows`` (fine for the in-memory store of tests and small deployments).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ruvon.errors import RuvonError, WorkflowNotFound
from ruvon.implementations.persistence.schema import (
    LOG_COLUMNS,
    WORKFLOW_COLUMNS,
    log_from_row,
    not_found_message,
    workflow_from_row,
)
from ruvon.implementations.persistence.sql import SQLPersistenceProvider
from ruvon.providers.persistence import LogEntry, PersistenceProvider, WorkflowRecord
from ruvon.runtime.session import unwrap

MAX_PAGE = 500
_FALLBACK_SCAN = 100_000


class BadCursor(RuvonError, ValueError):
    """A ``cursor`` parameter that this server did not hand out."""


@dataclass(slots=True)
class Page:
    """One page of workflows, newest first, and the cursor of the next page (``None``: last)."""

    records: list[WorkflowRecord]
    next_cursor: str | None


def encode_cursor(record: WorkflowRecord) -> str:
    """The opaque cursor that continues after ``record``."""
    raw = json.dumps([record.created_at, record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """The (created_at, id) a cursor continues after.

    Raises:
        BadCursor: The text is not a cursor this server made.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, workflow_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(created_at), str(workflow_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor(
            f"The cursor {cursor[:40]!r} is not one this server handed out. Pass the "
            f"'next_cursor' of the previous page unchanged, or leave cursor out for the first page."
        ) from exc


async def page_workflows(
    persistence: PersistenceProvider,
    *,
    status: str | None = None,
    workflow_type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Workflows newest first (by ``created_at``, then id), ``limit`` at a time."""
    after = decode_cursor(cursor) if cursor else None
    limit = max(1, min(limit, MAX_PAGE))
    store = unwrap(persistence)
    if isinstance(store, SQLPersistenceProvider):
        records = await _sql_page(store, status, workflow_type, limit + 1, after)
    else:
        records = await _fallback_page(store, status, workflow_type, limit + 1, after)
    more = len(records) > limit
    records = records[:limit]
    return Page(records, encode_cursor(records[-1]) if more and records else None)


async def _sql_page(
    store: SQLPersistenceProvider,
    status: str | None,
    workflow_type: str | None,
    limit: int,
    after: tuple[float, str] | None,
) -> list[WorkflowRecord]:
    p = store.dialect.param
    where: list[str] = []
    params: list[Any] = []
    if status is not None:
        where.append(f"status = {p}")
        params.append(status)
    if workflow_type is not None:
        where.append(f"workflow_type = {p}")
        params.append(workflow_type)
    if after is not None:
        where.append(f"(created_at < {p} OR (created_at = {p} AND id < {p}))")
        params += [after[0], after[0], after[1]]
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    sql = (
        f"SELECT {store._sql.columns} FROM workflows {clause}"
        f"ORDER BY created_at DESC, id DESC LIMIT {p}"
    )
    rows = await store._fetch("list workflows", sql, (*params, limit))
    return [workflow_from_row(row, store.dialect.load_json) for row in rows]


async def _fallback_page(
    store: PersistenceProvider,
    status: str | None,
    workflow_type: str | None,
    limit: int,
    after: tuple[float, str] | None,
) -> list[WorkflowRecord]:
    found = await store.list_workflows(
        status=status, workflow_type=workflow_type, limit=_FALLBACK_SCAN
    )
    found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    if after is not None:
        found = [r for r in found if (r.created_at, r.id) < after]
    return found[:limit]


async def count_by_status(
    persistence: PersistenceProvider, workflow_type: str | None = None
) -> dict[str, int]:
    """How many workflows are stored in each status (optionally of one type)."""
    store = unwrap(persistence)
    if isinstance(store, SQLPersistenceProvider):
        p = store.dialect.param
        clause = f"WHERE workflow_type = {p} " if workflow_type else ""
        rows = await store._fetch(
            "count workflows by status",
            f"SELECT status, COUNT(*) FROM workflows {clause}GROUP BY status",
            (workflow_type,) if workflow_type else (),
        )
        return {str(status): int(count) for status, count in sorted(rows)}
    counts: dict[str, int] = {}
    for record in await store.list_workflows(workflow_type=workflow_type, limit=_FALLBACK_SCAN):
        counts[record.status] = counts.get(record.status, 0) + 1
    return dict(sorted(counts.items()))


async def change_mark(persistence: PersistenceProvider, workflow_id: str | None) -> str:
    """A short text that changes whenever what a dashboard page shows may have changed."""
    store = unwrap(persistence)
    if workflow_id is not None:
        record = await store.load_workflow(workflow_id)
        return f"{record.version}:{record.status}:{record.updated_at}"
    if isinstance(store, SQLPersistenceProvider):
        rows = await store._fetch(
            "look for changed workflows",
            "SELECT COUNT(*), MAX(updated_at), SUM(version) FROM workflows",
            (),
        )
        return ":".join(str(v) for v in rows[0]) if rows else ""
    records = await store.list_workflows(limit=_FALLBACK_SCAN)
    return f"{len(records)}:{max((r.updated_at for r in records), default=0)}"


async def load_with_log(
    persistence: PersistenceProvider, workflow_id: str
) -> tuple[WorkflowRecord, list[LogEntry]]:
    """A workflow and its execution log (on PostgreSQL in one round trip).

    Raises:
        WorkflowNotFound: No such workflow (the message names the id).
    """
    store = unwrap(persistence)
    if not (isinstance(store, SQLPersistenceProvider) and store.dialect.postgres):
        return await store.load_workflow(workflow_id), await store.load_log(workflow_id)
    columns = ", ".join(f"w.{c}" for c in WORKFLOW_COLUMNS)
    entry = ", ".join(f"l.{c}" for c in LOG_COLUMNS)
    sql = (
        f"SELECT {columns}, (SELECT json_agg(json_build_array({entry}) ORDER BY l.id) "
        f"FROM execution_log l WHERE l.workflow_id = w.id) FROM workflows w WHERE w.id = %s"
    )
    rows = await store._fetch(f"load workflow '{workflow_id}'", sql, (workflow_id,))
    if not rows:
        raise WorkflowNotFound(not_found_message(workflow_id, store._label))
    row = rows[0]
    record = workflow_from_row(row[:-1], store.dialect.load_json)
    return record, [log_from_row(item) for item in row[-1] or []]
