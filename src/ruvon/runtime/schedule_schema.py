"""The tables of the schema version that adds schedules and retention (see ``persistence.schema``)."""

from __future__ import annotations


def schedule_tables(real: str, json_type: str, integer: str) -> tuple[str, ...]:
    """Schedules (``ruvon schedule``, CRON_SCHEDULE steps) and an index for retention purges.

    One row per schedule: its cron expression, the workflow type and data it starts, its catch-up
    policy and ``next_run_at``, the first tick not yet started. A serving worker claims a due row
    (``claimed_by``/``claim_expires_at``), starts the tick's workflow under an idempotency key made
    of the schedule id and the tick, and advances ``next_run_at`` with a compare-and-set.
    """
    return (
        f"""CREATE TABLE ruvon_schedules (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            workflow_type TEXT NOT NULL,
            cron TEXT NOT NULL,
            timezone TEXT NOT NULL,
            data {json_type} NOT NULL,
            catch_up TEXT NOT NULL,
            max_catch_up {integer} NOT NULL,
            grace_seconds {real} NOT NULL,
            next_run_at {real} NOT NULL,
            last_run_at {real},
            last_workflow_id TEXT,
            runs {integer} NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claim_expires_at {real},
            created_at {real} NOT NULL,
            created_by TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS ix_ruvon_schedules_next_run ON ruvon_schedules (next_run_at)",
        "CREATE INDEX IF NOT EXISTS ix_workflows_status_updated ON workflows (status, updated_at)",
        "CREATE INDEX IF NOT EXISTS ix_ruvon_idempotency_workflow ON ruvon_idempotency "
        "(workflow_id)",
    )
