"""``ruvon validate --db URL``: check every in-flight workflow of a store against the current code."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator

from rich.text import Text

from ruvon.cli.commands import Session
from ruvon.cli.exits import EXIT_FAILED, EXIT_OK
from ruvon.cli.render import print_error
from ruvon.cli.store import opened_store
from ruvon.providers.persistence import PersistenceProvider, WorkflowRecord
from ruvon.runtime.leases import TERMINAL_STATUSES
from ruvon.state_migrations import StoredCheck, check_record

PAGE = 200


async def in_flight(persistence: PersistenceProvider) -> AsyncIterator[WorkflowRecord]:
    """Every unfinished workflow of a SQL store, in pages of :data:`PAGE` (by id)."""
    from ruvon.runtime.schedules import _dialect

    dialect = _dialect(persistence)
    ended = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)
    after = ""
    while True:
        async with dialect.statement("list in-flight workflows") as tx:
            rows = await tx.rows(
                f"SELECT id FROM workflows WHERE status NOT IN ({ended}) AND id > %s "
                f"ORDER BY id LIMIT %s",
                (after, PAGE),
            )
        for (workflow_id,) in rows:
            yield await persistence.load_workflow(str(workflow_id))
        if len(rows) < PAGE:
            return
        after = str(rows[-1][0])


async def validate_store(session: Session, as_json: bool = False) -> int:
    """Check the in-flight workflows of ``session.db``; exit 1 if any would not load."""
    builder = session.builder()
    checks: list[StoredCheck] = []
    async with opened_store(session.db, create=False) as store:
        async for record in in_flight(store):
            checks.append(check_record(builder, record))
    bad = [check for check in checks if not check.ok]
    if as_json:
        rows = [
            {
                "id": c.workflow_id,
                "type": c.workflow_type,
                "status": c.status,
                "workflow_version": c.workflow_version,
                "migrated_to": c.migrated_to,
                "problem": c.problem,
            }
            for c in checks
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_FAILED if bad else EXIT_OK
    for check in checks:
        if check.ok:
            note = f", state migrates to {check.migrated_to}" if check.migrated_to else ""
            session.out.print(
                Text("ok  ", style="bold green")
                + Text(
                    f"{check.workflow_id}  ({check.workflow_type} {check.workflow_version}, "
                    f"{check.status}{note})"
                )
            )
        else:
            print_error(session.err, check.problem or "")
    summary = f"{len(checks)} in-flight workflows checked, {len(bad)} would not load"
    session.err.print(Text(summary, style="red" if bad else "green"))
    return EXIT_FAILED if bad else EXIT_OK
