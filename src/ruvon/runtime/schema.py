"""The tables and columns of schema version 3, which the runtime adds (see ``persistence.schema``)."""

from __future__ import annotations


def runtime_tables(real: str, json_type: str, integer: str) -> tuple[str, ...]:
    """Schema 3 (see ``ruvon.runtime``): who drives a workflow, until when, and what waits for it.

    ``owner``/``lease_expires_at`` hold the driver's lease; ``queued_at`` marks a workflow handed to
    serving workers (``start_workflow``); ``pending_input`` holds human input delivered for them, or
    a wake-up for a parent whose child ended.
    """
    return (
        "ALTER TABLE workflows ADD COLUMN owner TEXT",
        f"ALTER TABLE workflows ADD COLUMN lease_expires_at {real}",
        f"ALTER TABLE workflows ADD COLUMN queued_at {real}",
        f"ALTER TABLE workflows ADD COLUMN pending_input {json_type}",
        "CREATE INDEX IF NOT EXISTS ix_workflows_owner ON workflows (owner) "
        "WHERE owner IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS ix_workflows_runnable ON workflows (created_at) "
        "WHERE status IN ('ACTIVE', 'WAITING_HUMAN', 'PENDING_SUB_WORKFLOW')",
        f"""CREATE TABLE ruvon_idempotency (
            key TEXT PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            data_hash TEXT NOT NULL,
            created_at {real} NOT NULL
        )""",
        f"""CREATE TABLE ruvon_workers (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid {integer} NOT NULL,
            concurrency {integer} NOT NULL,
            types TEXT NOT NULL,
            started_at {real} NOT NULL,
            heartbeat_at {real} NOT NULL
        )""",
    )
