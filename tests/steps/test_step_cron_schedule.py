"""CRON_SCHEDULE steps: store (or replace) a schedule with a templated name and data."""

from __future__ import annotations

import pytest
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus
from ruvon.runtime.schedules import list_schedules, run_due

SETUP = """\
workflow_type: "Setup"
initial_state_model: "steps_kit.State"
steps:
  - name: "Schedule_Report"
    type: CRON_SCHEDULE
    schedule_name: "report_{{ state.reviewer }}"
    cron_expression: "0 9 * * MON"
    target_workflow_type: "Report"
    initial_data_template:
      reviewer: "{{ state.reviewer }}"
      note: "weekly"
      n: 3
    output_key: "details"
"""

REPORT = """\
workflow_type: "Report"
initial_state_model: "steps_kit.State"
steps:
  - name: "Count"
    function: "steps_kit.increment"
"""


async def test_the_step_stores_a_rendered_schedule_and_a_rerun_replaces_it(env: Env) -> None:
    if env.kind == "memory":
        pytest.skip("schedules live in a shared database")
    workflow = await env.start(SETUP, REPORT, data={"reviewer": "ada"})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    (made,) = await list_schedules(env.store)
    assert (made.name, made.cron, made.workflow_type) == ("report_ada", "0 9 * * MON", "Report")
    assert made.data == {"reviewer": "ada", "note": "weekly", "n": 3}
    assert made.created_by == f"workflow:{workflow.id}"
    assert workflow.state.details["schedule_id"] == made.id
    again = await env.start(SETUP, REPORT, data={"reviewer": "ada"})
    await again.next_step()
    (same,) = await list_schedules(env.store)
    assert same.id == made.id and same.created_by == f"workflow:{again.id}"
    fired = await run_due(env.builder(SETUP, REPORT), env.store, owner="w", now=made.next_run_at)
    report = await env.store.load_workflow(fired[0].workflow_id)
    assert (report.workflow_type, report.state["reviewer"], report.state["n"]) == (
        "Report",
        "ada",
        3,
    )


async def test_on_the_memory_store_the_step_fails_saying_why(env: Env) -> None:
    if env.kind != "memory":
        pytest.skip("the memory store only")
    workflow = await env.start(SETUP, REPORT, data={"reviewer": "ada"})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "cannot keep schedules" in workflow.error


async def test_a_bad_cron_expression_is_a_definition_error(env: Env) -> None:
    with pytest.raises(DefinitionError, match="the day-of-week field 'FUNDAY' is not valid"):
        await env.start(SETUP.replace("0 9 * * MON", "0 9 * * FUNDAY"), REPORT)
