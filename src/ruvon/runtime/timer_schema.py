"""The tables and columns that timers, signals and queues add (one migration of
``ruvon.implementations.persistence.schema``)."""

from __future__ import annotations

SLEEPING_STATUSES = ("SLEEPING", "WAITING_SIGNAL")
"""Statuses whose ``wake_at`` a serving worker watches."""

_WATCHED = "status IN ('SLEEPING', 'WAITING_SIGNAL')"


def timer_tables(real: str, json_type: str, identity: str) -> tuple[str, ...]:
    """Timers, signals and queues.

    ``workflows.wake_at`` is when a SLEEPING workflow is due, or when a WAIT_FOR_SIGNAL step times
    out (or ``now`` once a signal arrived); a partial index over the watched statuses answers
    "what is due next" in one index probe. ``ruvon_signals`` is the durable inbox: signals are
    kept until consumed, in id order. ``ruvon_queues`` holds ``max_active`` per workflow type.
    """
    return (
        f"ALTER TABLE workflows ADD COLUMN wake_at {real}",
        f"CREATE INDEX IF NOT EXISTS ix_workflows_wake_at ON workflows (wake_at) WHERE {_WATCHED}",
        "CREATE INDEX IF NOT EXISTS ix_workflows_queued ON workflows (workflow_type, created_at) "
        "WHERE status = 'QUEUED'",
        f"""CREATE TABLE ruvon_signals (
            id {identity},
            workflow_id TEXT NOT NULL,
            name TEXT NOT NULL,
            data {json_type},
            created_at {real} NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS ix_ruvon_signals_workflow ON ruvon_signals "
        "(workflow_id, name, id)",
        """CREATE TABLE ruvon_queues (
            workflow_type TEXT PRIMARY KEY,
            max_active INTEGER NOT NULL
        )""",
    )
