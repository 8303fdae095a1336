"""``retry:`` on any step: max_attempts, backoff_seconds, backoff_multiplier."""

from __future__ import annotations

import pytest
import steps_kit
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus
from ruvon.step_models import RetryPolicy

RETRY = """\
workflow_type: "Flaky"
initial_state_model: "steps_kit.State"
steps:
  - name: "Call"
    function: "steps_kit.flaky"
    retry:
      max_attempts: 3
      backoff_seconds: 0
"""


async def test_fails_twice_then_succeeds(env: Env) -> None:
    workflow = await env.start(RETRY)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED and workflow.state.n == 3
    assert steps_kit.COUNTS["flaky"] == 3
    assert [k["attempt"] for k in steps_kit.KWARGS] == [1, 2, 3]
    log = await env.store.load_log(workflow.id)
    retries = [e for e in log if e.event == "STEP_RETRY"]
    assert len(retries) == 2 and retries[0].message is not None
    assert retries[0].message.startswith("attempt 1:") and "flaky failure 1" in retries[0].message


async def test_exhausted_attempts_fail_the_workflow(env: Env) -> None:
    steps_kit.FAIL["flaky_failures"] = 5
    workflow = await env.start(RETRY)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert steps_kit.COUNTS["flaky"] == 3
    assert workflow.error is not None and "flaky failure 3" in workflow.error


async def test_in_place_changes_of_failed_attempts_never_reach_the_saved_state(env: Env) -> None:
    # pydantic keeps the dicts inside `Any` values as given: restoring the saved state before a
    # retry must not hand the saved dicts themselves to the next attempt.
    workflow = await env.start(
        RETRY.replace("flaky", "mutate_then_fail"), data={"items": [{"k": 0}]}
    )
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.state.items == [{"k": 0}]
    stored = await env.store.load_workflow(workflow.id)
    assert stored.state["items"] == [{"k": 0}], "the saved state is the last completed one"
    assert (await env.reload(workflow)).state.items == [{"k": 0}]


async def test_without_retry_a_step_runs_once(env: Env) -> None:
    workflow = await env.start(RETRY.split("    retry:")[0])
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED and steps_kit.COUNTS["flaky"] == 1


async def test_retry_applies_to_async_steps(env: Env) -> None:
    workflow = await env.start(
        RETRY.replace(
            '    function: "steps_kit.flaky"', '    type: ASYNC\n    function: "steps_kit.flaky"'
        )
    )
    assert await workflow.run_to_completion() == WorkflowStatus.COMPLETED
    assert steps_kit.COUNTS["flaky"] == 3


def test_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(
        max_attempts=9, backoff_seconds=0.5, backoff_multiplier=3, max_backoff_seconds=10, jitter=0
    )
    assert [policy.delay(a) for a in (1, 2, 3, 4, 5)] == [0.5, 1.5, 4.5, 10, 10]
    assert policy.delay(100_000) == 10, "a huge exponent does not overflow"
    assert RetryPolicy().model_dump() == {
        "max_attempts": 3,
        "backoff_seconds": 1.0,
        "backoff_multiplier": 2.0,
        "max_backoff_seconds": 60.0,
        "jitter": 0.25,
    }


def test_jitter_shortens_the_delay_by_at_most_its_fraction() -> None:
    policy = RetryPolicy(backoff_seconds=2, backoff_multiplier=1, jitter=0.5)
    assert policy.delay(1, draw=lambda: 0.0) == 2.0
    assert policy.delay(1, draw=lambda: 0.5) == 1.5
    assert policy.delay(1, draw=lambda: 0.999) > 1.0
    delays = {policy.delay(1) for _ in range(50)}
    assert len(delays) > 1 and all(1.0 < d <= 2.0 for d in delays)


async def test_bad_retry_policy_is_reported_with_lines(env: Env) -> None:
    text = RETRY.replace("max_attempts: 3", "max_attempts: 0\n      backoff_multiplier: 0.5")
    text = text.replace("backoff_seconds: 0", "backof_seconds: 1")
    with pytest.raises(DefinitionError) as caught:
        await env.start(text)
    message = str(caught.value)
    assert "has 3 problems" in message
    assert "line 7" in message and "greater than or equal to 1" in message
    assert "line 9" in message and "unknown key 'backof_seconds'" in message
