"""What the CLI commands do, as coroutines that return the process exit code.

``main.py`` parses the command line and turns errors into exit codes; this module talks to the
builder, the workflow and the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ruvon.builder import WorkflowBuilder
from ruvon.cli import jsonout
from ruvon.cli.checks import checked_data, checked_input, input_hint
from ruvon.cli.exits import (  # noqa: F401 - the exit codes are part of this module's interface
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_WAITING,
    system_exit_message,
)
from ruvon.cli.interrupts import EXIT_INTERRUPTED, interrupt_guard
from ruvon.cli.progress import RichProgressObserver
from ruvon.cli.render import (
    declared_tasks,
    format_duration,
    print_error,
    print_fields,
    print_json,
    print_show,
    status_text,
    step_name_at,
    workflows_table,
)
from ruvon.cli.store import opened_store
from ruvon.errors import WorkflowStateError
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import ExecutionProvider, Interrupted
from ruvon.runtime.session import hold
from ruvon.steps.sub_workflow import background_children
from ruvon.workflow import Workflow

_FAILED_STATUSES = frozenset(
    {
        WorkflowStatus.FAILED,
        WorkflowStatus.FAILED_ROLLED_BACK,
        WorkflowStatus.FAILED_CHILD_WORKFLOW,
        WorkflowStatus.CANCELLED,
    }
)


@dataclass(slots=True)
class Session:
    """What every command needs: where the store and the definitions are, and where to print."""

    db: str
    config_dir: Path | None
    out: Console
    err: Console
    json_out: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)

    def builder(self) -> WorkflowBuilder:
        """A builder over ``config_dir`` (default ``$RUVON_CONFIG_DIR``, else ``./config``)."""
        return WorkflowBuilder(config_dir=self.config_dir, parameters=self.parameters)

    def progress(self) -> RichProgressObserver:
        """Progress lines: on stdout, or on stderr when stdout carries the ``--json`` document."""
        return RichProgressObserver(self.err if self.json_out else self.out)

    @contextlib.contextmanager
    def workflow_output(self) -> Iterator[None]:
        """Under ``--json``, what workflow code prints goes to stderr, keeping stdout pure JSON."""
        if not self.json_out:
            yield
            return
        with contextlib.redirect_stdout(sys.stderr):
            yield


def make_executor(kind: str, workers: int) -> ExecutionProvider:
    """``sync`` runs PARALLEL tasks one after another; ``thread`` runs them on ``workers`` threads;
    ``celery`` sends them to Celery workers (``ruvon worker``)."""
    if kind == "celery":
        from ruvon.implementations.execution.celery import CeleryExecutor

        return CeleryExecutor()
    if kind == "sync":
        from ruvon.implementations.execution.sync import SyncExecutor

        return SyncExecutor()
    from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider

    return ThreadPoolExecutionProvider(max_workers=workers)


async def recorded_executor(session: Session, workflow_id: str) -> str:
    """The executor a stored workflow was started with (``engine["executor"]``), else ``thread``.

    Raises:
        WorkflowNotFound: No workflow has this id.
    """
    async with opened_store(session.db) as store:
        record = await store.load_workflow(workflow_id)
    kind = record.engine.get("executor")
    return kind if kind in ("sync", "thread", "celery") else "thread"


def exit_code_for(status: WorkflowStatus) -> int:
    """0 COMPLETED, 1 for a failed or cancelled workflow, 3 when it stopped to wait."""
    if status is WorkflowStatus.COMPLETED:
        return EXIT_OK
    if status in _FAILED_STATUSES:
        return EXIT_FAILED
    return EXIT_WAITING


async def run_new(
    session: Session,
    workflow_type: str,
    data: dict[str, Any],
    executor: ExecutionProvider,
) -> int:
    """Create a workflow of ``workflow_type`` on the store and run it as far as it goes."""
    progress = session.progress()
    builder = session.builder()
    data = checked_data(session.err, builder, workflow_type, data)
    async with opened_store(session.db) as store:
        workflow = await builder.create_workflow(
            workflow_type,
            persistence_provider=store,
            execution_provider=executor,
            workflow_observer=progress,
            initial_data=data,
        )
        return await drive(session, workflow, progress)


async def continue_stored(
    session: Session,
    workflow_id: str,
    executor: ExecutionProvider,
    *,
    retry: bool = False,
    user_input: Any = None,
    wait: float | None = None,
) -> int:
    """Load a stored workflow and run it on: ``resume`` (ACTIVE or WAITING_HUMAN) or ``retry`` (FAILED).

    The workflow's lease is held throughout (``wait``: seconds to wait for another driver's).
    """
    progress = session.progress()
    async with opened_store(session.db, create=False, workflow_id=workflow_id) as store:
        workflow = await session.builder().load_workflow(
            workflow_id,
            persistence_provider=store,
            execution_provider=executor,
            workflow_observer=progress,
        )
        if workflow.status.is_terminal and not retry:
            raise WorkflowStateError(_not_resumable(workflow))
        async with hold(workflow, wait=wait):
            return await _go_on(session, workflow, progress, retry, user_input)


async def _go_on(
    session: Session,
    workflow: Workflow,
    progress: RichProgressObserver,
    retry: bool,
    user_input: Any,
) -> int:
    """Retry or check the status, then drive (inside the lease)."""
    if retry:
        await workflow.retry()
    elif workflow.status not in _RESUMABLE:
        raise WorkflowStateError(_not_resumable(workflow))
    elif workflow.status is WorkflowStatus.SLEEPING and not_due(workflow):
        raise WorkflowStateError(not_due(workflow))
    if user_input is not None:
        user_input = checked_input(workflow, user_input)
    progress.console.print(
        Text("▶ ", style="bold cyan")
        + Text(f"{workflow.workflow_type} {workflow.id} continues at step ")
        + Text(workflow.current_step_name or "-", style="bold")
    )
    return await drive(session, workflow, progress, user_input=user_input)


def _not_resumable(workflow: Workflow) -> str:
    hint = {
        WorkflowStatus.FAILED: f" Run 'ruvon retry {workflow.id}' to re-run the failed step.",
    }.get(workflow.status, "")
    return (
        f"Workflow {workflow.id} is {workflow.status.value}; only an ACTIVE, WAITING_HUMAN, "
        f"SLEEPING (when due), WAITING_SIGNAL, PENDING_SUB_WORKFLOW or PENDING_ASYNC workflow can "
        f"be resumed.{hint}"
    )


_RESUMABLE = (
    WorkflowStatus.ACTIVE,
    WorkflowStatus.WAITING_HUMAN,
    WorkflowStatus.SLEEPING,
    WorkflowStatus.WAITING_SIGNAL,
    WorkflowStatus.PENDING_SUB_WORKFLOW,  # goes on if its child has ended, else keeps waiting
    WorkflowStatus.PENDING_ASYNC,  # the ASYNC step's function runs again and is collected
)
_WAITING = (WorkflowStatus.WAITING_HUMAN, WorkflowStatus.SLEEPING, WorkflowStatus.WAITING_SIGNAL)


def not_due(workflow: Workflow) -> str:
    """Why a SLEEPING workflow cannot go on yet ("" when it is due)."""
    from ruvon.steps.timing import sleeping_until

    due = sleeping_until(workflow)
    if due is None:
        return ""
    at = dt.datetime.fromtimestamp(due, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"Workflow {workflow.id} sleeps until {at} (step '{workflow.current_step_name}' runs "
        f"then); a 'ruvon serve' worker wakes it, or run 'ruvon resume {workflow.id}' after that."
    )


async def drive(
    session: Session, workflow: Workflow, progress: RichProgressObserver, user_input: Any = None
) -> int:
    """Run ``workflow`` until it completes, fails or waits; print the outcome; return the exit code."""
    started = time.monotonic()
    progress.mark()
    try:
        with (
            interrupt_guard(workflow.execution_provider, workflow.id, session.err),
            session.workflow_output(),
        ):
            if user_input is not None or workflow.status in _WAITING:
                await workflow.next_step(user_input=user_input)
            status = await workflow.run_to_completion()
            # FIRE_AND_FORGET children run in this process: wait for them, or they would be left
            # half-run when it exits (they stay queued for 'ruvon serve' either way).
            children = await background_children()
    except Interrupted:
        session.err.print(
            Text(
                f"interrupted: workflow {workflow.id} stopped at step "
                f"'{workflow.current_step_name}'; the results that arrived are saved. "
                f"Continue with: ruvon resume {workflow.id}"
            )
        )
        if session.json_out:
            jsonout.emit(outcome_json(workflow, time.monotonic() - started, EXIT_INTERRUPTED))
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        # Workflow code called sys.exit(): report it as the failure it is, never as our exit code.
        at = f"in step '{workflow.current_step_name}'" if workflow.current_step_name else ""
        where = f"{at} of workflow {workflow.id}".strip()
        print_error(
            session.err,
            system_exit_message(exc, where) + f"\nThen continue with: ruvon resume {workflow.id}",
        )
        if session.json_out:
            jsonout.emit(outcome_json(workflow, time.monotonic() - started, EXIT_FAILED))
        return EXIT_FAILED
    code = exit_code_for(status)
    if session.json_out:
        document = outcome_json(workflow, time.monotonic() - started, code)
        if children:
            document["children"] = children
        jsonout.emit(document)
        print_failure(session, workflow)
    else:
        print_outcome(session, workflow, time.monotonic() - started)
        for child in children:
            session.out.print(
                Text(f"started child workflow {child} (fire and forget): ruvon show {child}")
            )
    return code


def outcome_json(workflow: Workflow, elapsed: float, code: int) -> dict[str, Any]:
    """``run|resume|retry --json``: where the workflow stopped, and its state."""
    error = workflow.error if workflow.status is WorkflowStatus.FAILED else None
    return {
        "id": workflow.id,
        "workflow_type": workflow.workflow_type,
        "status": workflow.status.value,
        "current_step": workflow.current_step_name,
        "elapsed_seconds": round(elapsed, 6),
        "exit_code": code,
        "error": None if error is None else str(error),
        "state": workflow.state.model_dump(mode="json"),
    }


def print_outcome(session: Session, workflow: Workflow, elapsed: float) -> None:
    """The workflow's id, status, run time and state; the error (on stderr) if it failed."""
    rows: list[tuple[str, str | Text]] = [
        ("id", workflow.id),
        ("type", workflow.workflow_type),
        ("status", status_text(workflow.status.value)),
        ("time", format_duration(elapsed)),
    ]
    if workflow.current_step_name and workflow.status is not WorkflowStatus.COMPLETED:
        rows.append(("at step", workflow.current_step_name))
    session.out.print()
    print_fields(session.out, rows)
    session.out.print(Text("state", style="bold"))
    print_json(session.out, workflow.state.model_dump(mode="json"))
    print_failure(session, workflow)
    if exit_code_for(workflow.status) == EXIT_WAITING:
        session.out.print(
            Text(f"waiting ({workflow.status.value}); continue with: ruvon resume {workflow.id}")
        )
        if workflow.status is WorkflowStatus.WAITING_HUMAN:
            session.out.print(Text(input_hint(workflow)))


def print_failure(session: Session, workflow: Workflow) -> None:
    """The error of a FAILED workflow on stderr, with the ``ruvon retry`` to run after a fix."""
    if workflow.status is WorkflowStatus.FAILED:
        print_error(
            session.err,
            f"workflow {workflow.id} failed: {workflow.error}\n"
            f"Fix the cause, then run: ruvon retry {workflow.id}",
        )


async def list_stored(
    session: Session, status: str | None, workflow_type: str | None, limit: int
) -> int:
    """Print the stored workflows, newest first."""
    async with opened_store(session.db, create=False) as store:
        records = await store.list_workflows(
            status=status, workflow_type=workflow_type, limit=limit
        )
    if session.json_out:
        jsonout.emit([jsonout.workflow_summary(record) for record in records])
    elif not records:
        session.out.print(Text("no workflows found", style="dim"))
    else:
        session.out.print(workflows_table(records))
    return EXIT_OK


async def show_stored(session: Session, workflow_id: str) -> int:
    """Print one stored workflow: summary, state, step history and failures."""
    async with opened_store(session.db, create=False, workflow_id=workflow_id) as store:
        record = await store.load_workflow(workflow_id)
        log = await store.load_log(workflow_id)
        step = step_name_at(record) or ""
        order = declared_tasks(record, step)
        saved = await store.load_task_results(workflow_id, step) if order else {}
        tasks = [saved[name] for name in order if name in saved]
    if session.json_out:
        jsonout.emit(jsonout.workflow_detail(record, log, tasks))
    else:
        print_show(session.out, record, log, tasks)
    return EXIT_OK
