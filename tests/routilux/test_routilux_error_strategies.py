"""Error strategies, applied alike to entry and downstream routines."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from routilux_sample_routines import Flaky, Recorder, Sleeper, Source

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState
from routilux.error_handler import ErrorAction
from routilux.errors import DefinitionError

FAST_RETRY = {"retry_delay": 0.001, "retry_backoff": 2.0}


def entry_flow(make_flow: Any, handler: ErrorHandler | None, **flow_kw: Any) -> tuple[Flow, Flaky]:
    """A failing entry routine ``flaky`` -> recorder ``after``."""
    flow = make_flow(**flow_kw)
    flaky = Flaky()
    flaky.set_error_handler(handler)
    flow.add_routine(flaky, "flaky")
    flow.add_routine(Recorder(), "after")
    flow.connect("flaky", "out", "after", "in")
    return flow, flaky


def downstream_flow(
    make_flow: Any, handler: ErrorHandler | None, **flow_kw: Any
) -> tuple[Flow, Flaky, Recorder]:
    """``src`` -> failing ``flaky`` and a healthy slow ``other``; flaky -> ``after``."""
    flow = make_flow(**flow_kw)
    flaky = Flaky()
    flow.add_routine(Source(), "src")
    flow.add_routine(flaky, "flaky")
    other = Sleeper()
    other.set_config(delay=0.02)
    flow.add_routine(other, "other")
    after = Recorder()
    flow.add_routine(after, "after")
    flow.connect("src", "out", "flaky", "trigger")
    flow.connect("src", "out", "other", "trigger")
    flow.connect("flaky", "out", "after", "in")
    flow.set_error_handler(handler)
    return flow, flaky, after


def run(flow: Flow, entry: str, params: dict[str, Any] | None = None) -> JobState:
    job = flow.execute(entry, params)
    assert JobState.wait_for_completion(flow, job, timeout=5)
    return job


@pytest.mark.parametrize("where", ["entry", "downstream"])
def test_default_is_stop(make_flow: Any, where: str) -> None:
    if where == "entry":
        flow, _ = entry_flow(make_flow, None)
        job = run(flow, "flaky")
    else:
        flow, _, _ = downstream_flow(make_flow, None)
        job = run(flow, "src")
    assert job.status == "failed"
    assert job.error is not None and "RuntimeError: attempt 1 failed" in job.error
    assert job.routine_states["flaky"]["status"] == "failed"


def test_stop_drops_queued_work(make_flow: Any) -> None:
    flow, _, _ = downstream_flow(make_flow, ErrorHandler(ErrorStrategy.STOP))
    job = run(flow, "src")
    assert job.status == "failed"
    # Sequential FIFO: flaky fails before "other" starts, so other never runs.
    assert "other" not in job.routine_states
    assert {r.routine_id for r in job.execution_tracker.routine_runs} == {"src", "flaky"}


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
def test_continue_downstream_records_and_goes_on(make_flow: Any, strategy: str) -> None:
    handler = ErrorHandler(ErrorStrategy.CONTINUE)
    flow, _, after = downstream_flow(make_flow, handler, execution_strategy=strategy)
    job = run(flow, "src")
    assert job.status == "completed"
    assert job.error is None
    assert job.routine_states["flaky"]["status"] == "error_continued"
    assert "attempt 1 failed" in job.routine_states["flaky"]["error"]
    assert job.routine_states["other"]["status"] == "completed"
    assert after.calls == []
    perf = job.execution_tracker.get_flow_performance()
    assert perf["failed"] == 1 and perf["completed"] == 2


def test_continue_on_entry(make_flow: Any) -> None:
    flow, _ = entry_flow(make_flow, ErrorHandler(ErrorStrategy.CONTINUE))
    job = run(flow, "flaky")
    assert job.status == "completed"
    assert job.routine_states["flaky"]["status"] == "error_continued"


@pytest.mark.parametrize("where", ["entry", "downstream"])
def test_skip_marks_routine_skipped(make_flow: Any, where: str) -> None:
    handler = ErrorHandler(ErrorStrategy.SKIP)
    if where == "entry":
        flow, _ = entry_flow(make_flow, handler)
        job = run(flow, "flaky")
    else:
        flow, _, _ = downstream_flow(make_flow, handler)
        job = run(flow, "src")
        assert job.routine_states["other"]["status"] == "completed"
    assert job.status == "completed"
    assert job.routine_states["flaky"]["status"] == "skipped"
    assert job.execution_tracker.get_flow_performance()["skipped"] == 1


@pytest.mark.parametrize("where", ["entry", "downstream"])
def test_retry_succeeds_with_backoff(make_flow: Any, where: str) -> None:
    handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=3, retry_delay=0.01, retry_backoff=3.0)
    if where == "entry":
        flow, flaky = entry_flow(make_flow, handler)
    else:
        flow, flaky, _ = downstream_flow(make_flow, handler)
    flaky.set_config(fail_times=2)
    job = run(flow, "flaky" if where == "entry" else "src")
    assert job.status == "completed"
    assert len(flaky.attempts) == 3
    gaps = [b[1] - a[1] for a, b in itertools.pairwise(flaky.attempts)]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.03  # delay * backoff ** n
    runs = job.execution_tracker.routine_executions["flaky"]
    assert [r.attempt for r in runs] == [0, 1, 2]
    assert [r.status for r in runs] == ["retrying", "retrying", "completed"]
    assert job.routine_states["after"]["status"] == "completed"


def test_retry_counts_per_task_not_per_handler(make_flow: Any) -> None:
    """Two tasks share one handler; each gets its own max_retries budget."""
    handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=2, **FAST_RETRY)
    flow = make_flow(execution_strategy="concurrent")
    flaky = Flaky()
    flaky.set_config(fail_times=2)
    flow.add_routine(Source(), "src")
    flow.add_routine(flaky, "flaky")
    flow.connect("src", "out", "flaky", "trigger", param_mapping={"a": "key"})
    flow.connect("src", "out", "flaky", "trigger", param_mapping={"b": "key"})
    flow.set_error_handler(handler)
    job = run(flow, "src", {"a": "first", "b": "second"})
    # Each message has keys a/b renamed to key, so both tasks carry distinct keys.
    assert job.status == "completed"
    keys = [key for key, _ in flaky.attempts]
    assert len(keys) == 6


def test_retry_exhausted_fails_the_job(make_flow: Any) -> None:
    handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=2, **FAST_RETRY)
    flow, flaky = entry_flow(make_flow, handler)
    job = run(flow, "flaky")
    assert job.status == "failed"
    assert len(flaky.attempts) == 3  # first attempt + max_retries
    assert "attempt 3 failed" in (job.error or "")


def test_retry_only_retryable_exceptions(make_flow: Any) -> None:
    handler = ErrorHandler(
        ErrorStrategy.RETRY, max_retries=3, retryable_exceptions=(ConnectionError,), **FAST_RETRY
    )
    flow, flaky = entry_flow(make_flow, handler)
    flaky.set_config(fail_times=1, error_class=ValueError)
    job = run(flow, "flaky")
    assert job.status == "failed"
    assert len(flaky.attempts) == 1


def test_routine_handler_wins_over_flow_handler(make_flow: Any) -> None:
    flow, flaky, _ = downstream_flow(make_flow, ErrorHandler(ErrorStrategy.STOP))
    flaky.set_error_handler(ErrorHandler(ErrorStrategy.SKIP))
    job = run(flow, "src")
    assert job.status == "completed"
    assert job.routine_states["flaky"]["status"] == "skipped"


def test_critical_routine_fails_job_even_under_continue(make_flow: Any) -> None:
    flow, _, _ = downstream_flow(make_flow, ErrorHandler(ErrorStrategy.CONTINUE, is_critical=True))
    job = run(flow, "src")
    assert job.status == "failed"


def test_critical_retry_exhausted_fails_job(make_flow: Any) -> None:
    handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=1, is_critical=True, **FAST_RETRY)
    flow, flaky, _ = downstream_flow(make_flow, handler)
    job = run(flow, "src")
    assert job.status == "failed"
    assert len(flaky.attempts) == 2


def test_decide_and_delays_are_pure() -> None:
    handler = ErrorHandler("retry", max_retries=2, retry_delay=0.5, retry_backoff=2.0)
    assert handler.decide(RuntimeError(), 0) is ErrorAction.RETRY
    assert handler.decide(RuntimeError(), 2) is ErrorAction.FAIL_JOB
    assert [handler.delay_before_retry(n) for n in range(3)] == [0.5, 1.0, 2.0]
    assert ErrorHandler("skip").decide(RuntimeError(), 0) is ErrorAction.SKIP
    assert ErrorHandler().decide(RuntimeError(), 0) is ErrorAction.FAIL_JOB
    restored = ErrorHandler.from_dict(
        ErrorHandler("retry", retryable_exceptions=(ConnectionError,)).to_dict()
    )
    assert restored.retryable_exceptions == (ConnectionError,)
    assert restored.strategy == "retry"


def test_bad_handler_arguments() -> None:
    with pytest.raises(DefinitionError, match="Unknown error strategy 'explode'"):
        ErrorHandler("explode")
    with pytest.raises(DefinitionError, match="must not be negative"):
        ErrorHandler(max_retries=-1)
