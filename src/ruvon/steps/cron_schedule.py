"""CRON_SCHEDULE steps: store a schedule that serving workers run (``ruvon.runtime.schedules``).

The step renders ``schedule_name`` and the strings of ``initial_data_template`` over the state,
then stores the schedule, replacing one of the same name (so running the step again, or a retry,
updates the schedule instead of adding a second one). The state is unchanged unless the step has an
``output_key``, which receives ``{"schedule_id", "schedule_name", "next_run_at"}``.
"""

from __future__ import annotations

from typing import Any

from ruvon.errors import RuvonError, StepFailed, TemplateError, WorkflowNotFound
from ruvon.results import apply_result
from ruvon.step_models import CronScheduleStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun


def _render(run: StepRun, value: Any, key: str) -> Any:
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        engine = run.workflow.template_engine_cls({**run.kwargs, "state": run.state})
        try:
            return engine.render(value)
        except TemplateError as exc:
            raise StepFailed(
                f"{run.where}: the template of '{key}' failed: {exc}",
                step_name=run.step.name,
                retryable=False,
            ) from None
    if isinstance(value, dict):
        return {name: _render(run, item, f"{key}.{name}") for name, item in value.items()}
    if isinstance(value, list):
        return [_render(run, item, f"{key}[{index}]") for index, item in enumerate(value)]
    return value


async def run_cron_schedule(run: StepRun) -> StepOutcome:
    """Run a CRON_SCHEDULE step."""
    from ruvon.builder import WorkflowBuilder
    from ruvon.runtime.schedules import add_schedule

    step = run.step
    assert isinstance(step, CronScheduleStep)
    name = str(_render(run, step.schedule_name, "schedule_name")).strip()
    data = _render(run, step.initial_data_template, "initial_data_template")
    builder = run.workflow.builder
    try:
        made = await add_schedule(
            run.persistence,
            step.target_workflow_type,
            step.cron_expression,
            data,
            name=name,
            timezone=step.timezone,
            catch_up=step.catch_up,
            builder=builder if isinstance(builder, WorkflowBuilder) else None,
            replace=True,
            created_by=f"workflow:{run.workflow.id}",
        )
    except (RuvonError, WorkflowNotFound) as exc:
        raise StepFailed(
            f"{run.where} could not store the schedule '{name}': {exc}",
            step_name=step.name,
            retryable=False,
        ) from None
    result = {"schedule_id": made.id, "schedule_name": made.name, "next_run_at": made.next_run_at}
    if step.output_key:
        apply_result(run.state, {step.output_key: result}, run.where, step_name=step.name)
    return StepOutcome(result=result, state=run.state)


KINDS = (StepKind(CronScheduleStep, run_cron_schedule),)
