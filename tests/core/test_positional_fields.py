"""The hot path builds some records positionally (keyword calls cost about twice as much on
CPython 3.11): these tests pin the field order those calls rely on, so adding or moving a field
fails here instead of silently shifting values (see attempts._step_run, attempts._with,
Workflow.to_record, the in-memory store's _snapshot and transitions' STEP_COMPLETED entry)."""

from __future__ import annotations

from dataclasses import fields

from ruvon.models import StepContext
from ruvon.providers.persistence import LogEntry, WorkflowRecord
from ruvon.steps.base import Invocation, StepOutcome, StepRun


def names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def test_step_context_order() -> None:
    assert names(StepContext)[:12] == [
        "workflow_id",
        "step_name",
        "workflow_type",
        "parent_step_name",
        "attempt",
        "validated_input",
        "previous_step_result",
        "metadata",
        "loop_item",
        "loop_index",
        "deadline",
        "parent_workflow_id",
    ]


def test_step_run_order() -> None:
    assert names(StepRun)[:9] == [
        "step",
        "state",
        "context",
        "loaded",
        "executor",
        "persistence",
        "observer",
        "workflow",
        "kwargs",
    ]


def test_workflow_record_order() -> None:
    assert names(WorkflowRecord)[:14] == [
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
    ]


def test_small_records_order() -> None:
    assert names(StepOutcome)[:3] == ["result", "state", "jump_to"]
    assert names(Invocation)[:1] == ["value"]
    assert names(LogEntry)[:6] == [
        "workflow_id",
        "event",
        "step_name",
        "task_name",
        "at",
        "duration",
    ]
