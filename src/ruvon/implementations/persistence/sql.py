"""The logic both SQL stores share: statements built from the column lists, saves, loads, lists.

A store subclasses :class:`SQLPersistenceProvider` with a :class:`Dialect` and implements three
primitives: run a query (:meth:`~SQLPersistenceProvider._fetch`), write one workflow save
atomically (:meth:`~SQLPersistenceProvider._save`) and write task results
(:meth:`~SQLPersistenceProvider._save_tasks`). Everything else (encoding and checking values,
version checks, conflict messages, row conversion) is written once, here.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ruvon.errors import VersionConflict, WorkflowNotFound
from ruvon.implementations.persistence.encoding import JsonCache, encode_column, fast_column
from ruvon.implementations.persistence.schema import (
    ENDED_STATUSES,
    LOG_COLUMNS,
    TASK_COLUMNS,
    WORKFLOW_COLUMNS,
    log_from_row,
    not_found_message,
    task_from_row,
    version_conflict_message,
    workflow_from_row,
)
from ruvon.providers.persistence import LogEntry, PersistenceProvider, TaskRecord, WorkflowRecord

# Columns every update writes; the others are written only when they changed (see _changed).
_ALWAYS = ("state", "current_step", "version", "updated_at")
_OPTIONAL = ("status", "metadata", "parent_id", "engine")
_JSON_COLUMNS = frozenset({"definition", "state", "metadata", "engine", "result"})
_ENDED = frozenset(ENDED_STATUSES)
_REMEMBERED = 4096  # workflows whose last saved columns are kept (see _changed)

Row = tuple[Any, ...]
SaveArgs = tuple[str, Row, str | None, str, list[Row]]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the SQL databases in the statements the stores share.

    Attributes:
        param: The placeholder of one parameter (``?`` or ``%s``).
        json_param: The placeholder of a JSON column's parameter (text, cast where needed).
        load_json: Decodes a JSON column as read (``json.loads`` for TEXT, identity for JSONB).
        postgres: Apply PostgreSQL's limits on stored text (no NUL, NaN or infinity).
    """

    param: str
    json_param: str
    load_json: Callable[[Any], Any]
    postgres: bool = False

    def placeholder(self, column: str) -> str:
        """The placeholder for ``column``'s value."""
        return self.json_param if column in _JSON_COLUMNS else self.param


class Statements:
    """The SQL text of every statement, built once per dialect from the column lists."""

    def __init__(self, dialect: Dialect) -> None:
        p = dialect.param
        self.dialect = dialect
        self.columns = ", ".join(WORKFLOW_COLUMNS)
        values = ", ".join(dialect.placeholder(c) for c in WORKFLOW_COLUMNS)
        self.insert_workflow = (  # ended_at last: not a column of WorkflowRecord
            f"INSERT INTO workflows ({self.columns}, ended_at) VALUES ({values}, {p}) "
            f"ON CONFLICT (id) DO NOTHING"
        )
        self.select_workflow = f"SELECT {self.columns} FROM workflows WHERE id = {p}"
        self.select_version = f"SELECT version FROM workflows WHERE id = {p}"
        self.select_tasks = (
            f"SELECT {', '.join(TASK_COLUMNS)} FROM task_results "
            f"WHERE workflow_id = {p} AND step_name = {p}"
        )
        self.select_log = (
            f"SELECT {', '.join(LOG_COLUMNS)} FROM execution_log WHERE workflow_id = {p} "
            f"ORDER BY id"
        )
        self.delete_tasks = f"DELETE FROM task_results WHERE workflow_id = {p} AND step_name = {p}"
        self.insert_log = (
            f"INSERT INTO execution_log ({', '.join(LOG_COLUMNS)}) "
            f"VALUES ({', '.join([p] * len(LOG_COLUMNS))})"
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in TASK_COLUMNS[3:])
        self.task_conflict = (
            f"ON CONFLICT (workflow_id, step_name, task_name) DO UPDATE SET {updates}"
        )
        task_values = ", ".join(dialect.placeholder(c) for c in TASK_COLUMNS)
        self.upsert_task = (
            f"INSERT INTO task_results ({', '.join(TASK_COLUMNS)}) VALUES ({task_values}) "
            f"{self.task_conflict}"
        )
        self._updates: dict[int, str] = {}

    def update_workflow(self, changed: int, release: bool = False) -> str:
        """The version-checked UPDATE of the always-written columns plus the optional ones whose
        bit is set in ``changed`` (bit ``i``: ``_OPTIONAL[i]``); ``status`` comes with
        ``ended_at``, the save's time for an ended status, else NULL.

        With ``release``, it also gives the lease up if the owner given as the two parameters
        after the columns' holds it: the last save of a driving session ends the lease in the same
        statement instead of a statement of its own.
        """
        key = changed | (16 if release else 0)
        sql = self._updates.get(key)
        if sql is None:
            optional = tuple(c for i, c in enumerate(_OPTIONAL) if changed & (1 << i))
            sets = [f"{c} = {self.dialect.placeholder(c)}" for c in _ALWAYS + optional]
            p = self.dialect.param
            if changed & 1:  # ended_at follows status (its value comes right after status's)
                sets.insert(len(_ALWAYS) + 1, f"ended_at = {p}")
            if release:  # the right-hand sides see the row as it was (the old owner)
                sets += [
                    f"owner = CASE WHEN owner = {p} THEN NULL ELSE owner END",
                    f"lease_expires_at = CASE WHEN owner = {p} THEN NULL ELSE lease_expires_at END",
                ]
            sql = f"UPDATE workflows SET {', '.join(sets)} WHERE id = {p} AND version = {p}"
            self._updates[key] = sql
        return sql

    def list_workflows(self, status: bool, workflow_type: bool) -> str:
        """Workflows newest first, filtered by the given columns, then a LIMIT parameter."""
        p = self.dialect.param
        filters = (("status", status), ("workflow_type", workflow_type))
        where = [f"{column} = {p}" for column, on in filters if on]
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return (
            f"SELECT {self.columns} FROM workflows {clause}ORDER BY created_at DESC, id DESC "
            f"LIMIT {p}"
        )


class SQLPersistenceProvider(PersistenceProvider):
    """A persistence provider on an SQL database; subclasses supply the connection handling."""

    dialect: Dialect
    _label: str

    def __init__(self) -> None:
        self._sql = Statements(self.dialect)
        self._definitions = JsonCache()
        # id -> (version, status, metadata, parent_id, engine) as last saved by this provider.
        self._saved: dict[str, tuple[Any, ...]] = {}

    # -- the primitives a store implements ---------------------------------------------------------
    @abstractmethod
    async def _fetch(self, what: str, sql: str, params: Sequence[Any]) -> list[Row]:
        """Run one query and return its rows; errors become PersistenceError naming ``what``."""

    @abstractmethod
    async def _save(self, save: SaveArgs) -> bool:
        """Write one save atomically; False (and nothing written) if the workflow row did not match.
        Errors become PersistenceError saying that the save failed (see :func:`saving`).

        ``save`` is (workflow statement, its parameters, finished step or None, workflow id,
        log rows): the statement inserts or updates the row; the finished step's task records are
        deleted and the log rows inserted in the same transaction.
        """

    @abstractmethod
    async def _save_tasks(self, what: str, rows: list[Row]) -> None:
        """Insert or replace task-result rows (in TASK_COLUMNS order) in one transaction."""

    # -- workflows ---------------------------------------------------------------------------------
    async def save_workflow(
        self,
        record: WorkflowRecord,
        *,
        finished_step: str | None = None,
        log: Sequence[LogEntry] = (),
    ) -> int:
        """Insert (version 0) or update ``record`` if the stored version matches, in one transaction.

        Raises:
            VersionConflict: Another writer saved the workflow first, or a new workflow's id exists.
            PersistenceError: A value cannot be stored (the message names its path, e.g.
                ``state.when``), or the database failed. Nothing is written then.
        """
        return await self._store(record, finished_step, log, None)

    async def save_and_release(
        self,
        record: WorkflowRecord,
        owner: str,
        *,
        finished_step: str | None = None,
        log: Sequence[LogEntry] = (),
    ) -> int:
        """:meth:`save_workflow` of a stored workflow (version > 0) that also gives up ``owner``'s
        lease on it, if ``owner`` holds it, in the same statement (a driving session's last save).

        Raises:
            VersionConflict, PersistenceError: As :meth:`save_workflow`; nothing is written then.
        """
        return await self._store(record, finished_step, log, owner)

    async def _store(
        self,
        record: WorkflowRecord,
        finished_step: str | None,
        log: Sequence[LogEntry],
        release: str | None,
    ) -> int:
        postgres = self.dialect.postgres
        workflow_id = record.id
        version = record.version
        new_version = version + 1
        state = fast_column(record.state, postgres)
        if state is None:
            state = encode_column(record.state, "state", _owner(workflow_id), postgres=postgres)
        metadata = fast_column(record.metadata, postgres)
        if metadata is None:
            metadata = encode_column(
                record.metadata, "metadata", _owner(workflow_id), postgres=postgres
            )
        engine = fast_column(record.engine, postgres)
        if engine is None:
            engine = encode_column(record.engine, "engine", _owner(workflow_id), postgres=postgres)
        log_rows = [self._log_row(entry) for entry in log] if log else []
        status, parent_id = record.status, record.parent_id
        if version == 0:
            definition = self._definitions.dumps(
                record.definition, "definition", _owner(workflow_id), postgres=postgres
            )
            saved = (new_version, status, metadata, parent_id, engine)
            sql = self._sql.insert_workflow
            params = _insert_params(record, definition, saved, state)
        else:
            # A step usually changes only the state: when this provider made the save ``version``
            # came from, the stored row holds what it wrote then, so unchanged columns are left
            # alone (rewriting ``status`` costs an index update per step). Otherwise all are written.
            last = self._saved.get(workflow_id)
            if last is None or last[0] != version:
                changed = 15
            else:
                changed = (
                    (last[1] != status)
                    | (last[2] != metadata) << 1
                    | (last[3] != parent_id) << 2
                    | (last[4] != engine) << 3
                )
            sql = self._sql.update_workflow(changed, release is not None)
            if not changed and release is None:  # the common case, without building a list
                params = (
                    state,
                    record.current_step,
                    new_version,
                    time.time(),
                    workflow_id,
                    version,
                )
            else:
                now = time.time()
                values = [state, record.current_step, new_version, now]
                for i, value in enumerate((status, metadata, parent_id, engine)):
                    if changed & (1 << i):
                        values.append(value)
                        if i == 0:
                            values.append(now if status in _ENDED else None)
                if release is not None:
                    values += (release, release)
                values += (workflow_id, version)
                params = tuple(values)
        if not await self._save((sql, params, finished_step, workflow_id, log_rows)):
            self._saved.pop(workflow_id, None)
            what = saving(workflow_id)
            rows = await self._fetch(what, self._sql.select_version, (workflow_id,))
            stored = int(rows[0][0]) if rows else None
            raise VersionConflict(
                version_conflict_message(workflow_id, stored, version, self._label)
            )
        saved_now = self._saved
        if len(saved_now) >= _REMEMBERED:
            saved_now.clear()
        saved_now[workflow_id] = (new_version, status, metadata, parent_id, engine)
        return new_version

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """Load one workflow.

        Raises:
            WorkflowNotFound: No workflow with that id is stored (the message names the id).
        """
        what = f"load workflow '{workflow_id}'"
        rows = await self._fetch(what, self._sql.select_workflow, (workflow_id,))
        if not rows:
            raise WorkflowNotFound(not_found_message(workflow_id, self._label))
        return workflow_from_row(rows[0], self.dialect.load_json)

    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Workflows, newest first (by ``created_at``), optionally filtered by status and type."""
        sql = self._sql.list_workflows(status is not None, workflow_type is not None)
        params = [v for v in (status, workflow_type) if v is not None]
        rows = await self._fetch("list workflows", sql, (*params, limit))
        return [workflow_from_row(row, self.dialect.load_json) for row in rows]

    # -- task results ------------------------------------------------------------------------------
    async def save_task_results(self, records: Sequence[TaskRecord]) -> None:
        """Save or replace several task outcomes in one transaction.

        Raises:
            PersistenceError: A result cannot be stored (the message names its path), or the
                database failed. Nothing is written then.
        """
        if not records:
            return
        rows = [self._task_row(record) for record in records]
        first = records[0]
        what = f"save task '{first.task_name}' of workflow '{first.workflow_id}'"
        if len(records) > 1:
            what = f"save {len(records)} task results of workflow '{first.workflow_id}'"
        await self._save_tasks(what, rows)

    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Saved outcomes of the step's current run, by task name."""
        what = f"load task results of workflow '{workflow_id}'"
        rows = await self._fetch(what, self._sql.select_tasks, (workflow_id, step_name))
        return {row[2]: task_from_row(row, self.dialect.load_json) for row in rows}

    # -- execution log -----------------------------------------------------------------------------
    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """The workflow's execution log, oldest first."""
        what = f"load the log of workflow '{workflow_id}'"
        rows = await self._fetch(what, self._sql.select_log, (workflow_id,))
        return [log_from_row(row) for row in rows]

    # -- rows --------------------------------------------------------------------------------------
    def _task_row(self, record: TaskRecord) -> Row:
        owner = (
            f"Task '{record.task_name}' of step '{record.step_name}' of workflow "
            f"'{record.workflow_id}'"
        )
        result = None
        if record.result is not None:
            result = encode_column(record.result, "result", owner, postgres=self.dialect.postgres)
        return (
            record.workflow_id,
            record.step_name,
            record.task_name,
            record.status,
            result,
            self._text(record.error),
            record.started_at,
            record.ended_at,
        )

    def _log_row(self, entry: LogEntry) -> Row:
        return (
            entry.workflow_id,
            entry.event,
            entry.step_name,
            entry.task_name,
            entry.at,
            entry.duration,
            self._text(entry.message),
        )

    def _text(self, text: str | None) -> str | None:
        """A descriptive text (error, log message); PostgreSQL cannot store NUL, so it is replaced."""
        if text is not None and self.dialect.postgres and "\x00" in text:
            return text.replace("\x00", "\ufffd")
        return text


def _insert_params(record: WorkflowRecord, definition: str, saved: Row, state: str) -> Row:
    """The parameters of a new workflow's row in WORKFLOW_COLUMNS order.

    ``saved`` is (version, status, metadata, parent_id, engine) with JSON columns encoded.
    """
    version, status, metadata, parent_id, engine = saved
    now = time.time()
    return (
        record.id,
        record.workflow_type,
        record.workflow_version,
        record.state_model_path,
        definition,
        state,
        status,
        record.current_step,
        metadata,
        version,
        record.created_at,
        now,
        parent_id,
        engine,
        now if status in _ENDED else None,  # ended_at
    )


def _owner(workflow_id: str) -> str:
    """What a save's error messages call the workflow."""
    return f"Workflow '{workflow_id}'"


def saving(workflow_id: str) -> str:
    """What a failed save could not do (``PersistenceError`` messages)."""
    return f"save workflow '{workflow_id}'"
