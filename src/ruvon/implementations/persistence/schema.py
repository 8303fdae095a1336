"""The versioned SQL schema shared by the SQLite and PostgreSQL persistence providers.

Each :class:`Migration` holds the statements for both databases. ``initialize()`` of a provider
applies, in one transaction, every migration newer than the version recorded in the
``ruvon_schema_migrations`` table, and refuses (without touching anything) a database whose
recorded version is newer than :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ruvon.errors import SchemaVersionError
from ruvon.providers.persistence import LogEntry, TaskRecord, WorkflowRecord
from ruvon.runtime.leases import TERMINAL_STATUSES
from ruvon.runtime.schedule_schema import schedule_tables
from ruvon.runtime.schema import runtime_tables
from ruvon.runtime.timer_schema import timer_tables

MIGRATIONS_TABLE = "ruvon_schema_migrations"

WORKFLOW_COLUMNS = (
    "id",
    "workflow_type",
    "workflow_version",
    "state_model_path",
    "definition",
    "state",
    "status",
    "current_step",
    "metadata",
    "version",
    "created_at",
    "updated_at",
    "parent_id",
    "engine",
)
TASK_COLUMNS = (
    "workflow_id",
    "step_name",
    "task_name",
    "status",
    "result",
    "error",
    "started_at",
    "ended_at",
)
LOG_COLUMNS = ("workflow_id", "event", "step_name", "task_name", "at", "duration", "message")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema's history.

    Attributes:
        version: The schema version this migration produces (1, 2, ...).
        description: What it changes, for logs.
        sqlite: Statements for SQLite.
        postgres: Statements for PostgreSQL.
    """

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_workflows_status ON workflows (status)",
    "CREATE INDEX IF NOT EXISTS ix_workflows_workflow_type ON workflows (workflow_type)",
    "CREATE INDEX IF NOT EXISTS ix_workflows_created_at ON workflows (created_at)",
    "CREATE INDEX IF NOT EXISTS ix_execution_log_workflow ON execution_log (workflow_id, id)",
)

# The keys that schema version 1 kept in the user's metadata and version 2 moves to ``engine``.
ENGINE_KEYS = (
    "error",
    "task_failures",
    "retries",
    "loop_progress",
    "sub_workflows",
    "saga_completed",
    "compensations",
)
_ENGINE_KEYS_SQL = ", ".join(f"'{key}'" for key in ENGINE_KEYS)
ENDED_STATUSES = TERMINAL_STATUSES
ENDED_SQL = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)
"""The ended statuses as an SQL list (``'COMPLETED', 'FAILED', ...``)."""
_ENGINE_KEYS_NULLS = json.dumps(dict.fromkeys(ENGINE_KEYS))


def _ended_at(real: str) -> tuple[str, ...]:
    """``workflows.ended_at``: set by the save that ends a workflow, cleared when it runs again.

    Retention finds old ended workflows by it, through a partial index. It replaces the index on
    ``(status, updated_at)``, which every step's save had to update (``updated_at`` changes at
    each save): now a step's save writes only columns no index holds, which on PostgreSQL makes it
    a HOT update (no index entry written) and on SQLite writes one page less per commit.
    """
    return (
        f"ALTER TABLE workflows ADD COLUMN ended_at {real}",
        f"UPDATE workflows SET ended_at = updated_at WHERE status IN ({ENDED_SQL})",
        "DROP INDEX IF EXISTS ix_workflows_status_updated",
        "CREATE INDEX IF NOT EXISTS ix_workflows_ended ON workflows (status, ended_at) "
        "WHERE ended_at IS NOT NULL",
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        description="workflows, task_results and execution_log tables",
        sqlite=(
            """CREATE TABLE workflows (
                id TEXT PRIMARY KEY,
                workflow_type TEXT NOT NULL,
                workflow_version TEXT NOT NULL,
                state_model_path TEXT NOT NULL,
                definition TEXT NOT NULL,
                state TEXT NOT NULL,
                status TEXT NOT NULL,
                current_step INTEGER NOT NULL,
                metadata TEXT NOT NULL,
                version INTEGER NOT NULL,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                parent_id TEXT
            )""",
            """CREATE TABLE task_results (
                workflow_id TEXT NOT NULL,
                step_name TEXT NOT NULL,
                task_name TEXT NOT NULL,
                status TEXT NOT NULL,
                result TEXT,
                error TEXT,
                started_at REAL NOT NULL,
                ended_at REAL NOT NULL,
                PRIMARY KEY (workflow_id, step_name, task_name)
            )""",
            """CREATE TABLE execution_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id TEXT NOT NULL,
                event TEXT NOT NULL,
                step_name TEXT,
                task_name TEXT,
                at REAL NOT NULL,
                duration REAL,
                message TEXT
            )""",
            *_INDEXES,
        ),
        postgres=(
            """CREATE TABLE workflows (
                id TEXT PRIMARY KEY,
                workflow_type TEXT NOT NULL,
                workflow_version TEXT NOT NULL,
                state_model_path TEXT NOT NULL,
                definition JSONB NOT NULL,
                state JSONB NOT NULL,
                status TEXT NOT NULL,
                current_step INTEGER NOT NULL,
                metadata JSONB NOT NULL,
                version BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                parent_id TEXT
            )""",
            """CREATE TABLE task_results (
                workflow_id TEXT NOT NULL,
                step_name TEXT NOT NULL,
                task_name TEXT NOT NULL,
                status TEXT NOT NULL,
                result JSONB,
                error TEXT,
                started_at DOUBLE PRECISION NOT NULL,
                ended_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (workflow_id, step_name, task_name)
            )""",
            """CREATE TABLE execution_log (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workflow_id TEXT NOT NULL,
                event TEXT NOT NULL,
                step_name TEXT,
                task_name TEXT,
                at DOUBLE PRECISION NOT NULL,
                duration DOUBLE PRECISION,
                message TEXT
            )""",
            *_INDEXES,
        ),
    ),
    Migration(
        version=2,
        description="engine bookkeeping moves out of the user's metadata into its own column",
        sqlite=(
            "ALTER TABLE workflows ADD COLUMN engine TEXT NOT NULL DEFAULT '{}'",
            # json_patch with a null value removes that key (RFC 7396), so metadata keeps only
            # the user's keys.
            f"""UPDATE workflows SET
                engine = (SELECT COALESCE(json_group_object(key, json(value)), '{{}}')
                          FROM json_each(workflows.metadata) WHERE key IN ({_ENGINE_KEYS_SQL})),
                metadata = json_patch(metadata, '{_ENGINE_KEYS_NULLS}')""",
        ),
        postgres=(
            "ALTER TABLE workflows ADD COLUMN engine JSONB NOT NULL DEFAULT '{}'::jsonb",
            f"""UPDATE workflows SET
                engine = COALESCE((SELECT jsonb_object_agg(key, value)
                                   FROM jsonb_each(workflows.metadata)
                                   WHERE key IN ({_ENGINE_KEYS_SQL})), '{{}}'::jsonb),
                metadata = metadata - ARRAY[{_ENGINE_KEYS_SQL}]""",
        ),
    ),
    Migration(
        version=3,
        description="runtime: leases, hand-over to serving workers, idempotency keys, workers",
        sqlite=runtime_tables("REAL", "TEXT", "INTEGER"),
        postgres=runtime_tables("DOUBLE PRECISION", "JSONB", "BIGINT"),
    ),
    Migration(
        version=4,
        description="schedules (ruvon schedule, CRON_SCHEDULE) and indexes for retention purges",
        sqlite=schedule_tables("REAL", "TEXT", "INTEGER"),
        postgres=schedule_tables("DOUBLE PRECISION", "JSONB", "BIGINT"),
    ),
    Migration(
        version=5,
        description="timers, signals and queues: wake_at, the signal inbox, max_active per type",
        sqlite=timer_tables("REAL", "TEXT", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        postgres=timer_tables(
            "DOUBLE PRECISION", "JSONB", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        ),
    ),
    Migration(
        version=6,
        description="ended_at: when a workflow ended; a step's save writes no indexed column",
        sqlite=_ended_at("REAL"),
        postgres=_ended_at("DOUBLE PRECISION"),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The newest schema version this ruvon knows."""


def pending_migrations(current: int, database: str) -> list[Migration]:
    """The migrations to apply to a database at schema version ``current``, oldest first.

    Args:
        current: The highest version recorded in the migrations table (0 for a new database).
        database: Names the database in messages, e.g. ``"The SQLite database ruvon.db"``.

    Raises:
        SchemaVersionError: The database is newer than this ruvon.
    """
    if current > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{database} has schema version {current} but this ruvon knows up to "
            f"{SCHEMA_VERSION}; upgrade ruvon. The database was left untouched."
        )
    return [m for m in MIGRATIONS if m.version > current]


def version_conflict_message(
    workflow_id: str, stored: int | None, version: int, database: str
) -> str:
    """The message of a VersionConflict on ``workflow_id``."""
    if stored is None:
        return (
            f"Workflow '{workflow_id}' cannot be saved at version {version}: {database} holds no "
            f"workflow with that id (deleted, or saved to another database). Save it as a new "
            f"workflow (version 0) or check the provider's database."
        )
    if version == 0:
        return (
            f"Workflow '{workflow_id}' is new (version 0) but {database} already holds a workflow "
            f"with that id (version {stored}). Use another id, or load the stored one with "
            f"builder.load_workflow('{workflow_id}')."
        )
    return (
        f"Workflow '{workflow_id}' was saved by another writer ({database} has version {stored}, "
        f"this copy has version {version}). Reload it with builder.load_workflow('{workflow_id}') "
        f"and apply the change again."
    )


def not_found_message(workflow_id: str, database: str) -> str:
    """The message of a WorkflowNotFound for ``workflow_id``."""
    return (
        f"No workflow with id '{workflow_id}' is stored in {_mid(database)}. Check the id "
        f"('ruvon list' or list_workflows() shows the stored ones) and that you use the database "
        f"the workflow was saved in."
    )


def _mid(label: str) -> str:
    """A provider label ("The SQLite database x") for use in mid-sentence."""
    return label[:1].lower() + label[1:] if label.startswith("The ") else label


def workflow_from_row(row: Sequence[Any], load: Callable[[Any], Any]) -> WorkflowRecord:
    """Build a WorkflowRecord from a row in :data:`WORKFLOW_COLUMNS` order.

    Args:
        row: The selected columns.
        load: Decodes a JSON column (``json.loads`` for TEXT, identity for JSONB).
    """
    return WorkflowRecord(
        id=row[0],
        workflow_type=row[1],
        workflow_version=row[2],
        state_model_path=row[3],
        definition=load(row[4]),
        state=load(row[5]),
        status=row[6],
        current_step=row[7],
        metadata=load(row[8]),
        version=row[9],
        created_at=row[10],
        updated_at=row[11],
        parent_id=row[12],
        engine=load(row[13]),
    )


def task_from_row(row: Sequence[Any], load: Callable[[Any], Any]) -> TaskRecord:
    """Build a TaskRecord from a row in :data:`TASK_COLUMNS` order."""
    return TaskRecord(
        workflow_id=row[0],
        step_name=row[1],
        task_name=row[2],
        status=row[3],
        result=None if row[4] is None else load(row[4]),
        error=row[5],
        started_at=row[6],
        ended_at=row[7],
    )


def log_from_row(row: Sequence[Any]) -> LogEntry:
    """Build a LogEntry from a row in :data:`LOG_COLUMNS` order."""
    return LogEntry(
        workflow_id=row[0],
        event=row[1],
        step_name=row[2],
        task_name=row[3],
        at=row[4],
        duration=row[5],
        message=row[6],
    )
