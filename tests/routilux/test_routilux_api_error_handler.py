"""ErrorHandler and ErrorStrategy, as the routilux 0.10 reference describes them."""

from __future__ import annotations

import pytest
from routilux_sample_routines import Source
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState
from routilux.error_handler import ErrorHandler as ModuleHandler
from routilux.errors import UnsafeRestoreError


def test_signatures_and_defaults() -> None:
    assert ModuleHandler is ErrorHandler
    assert {s.name: s.value for s in ErrorStrategy} == {
        "STOP": "stop", "CONTINUE": "continue", "RETRY": "retry", "SKIP": "skip"
    }  # fmt: skip
    assert_signature(
        ErrorHandler.__init__,
        ("strategy", "stop"), ("max_retries", 3), ("retry_delay", 1.0), ("retry_backoff", 2.0),
        ("retryable_exceptions", None), ("is_critical", False),
    )  # fmt: skip
    assert_signature(
        ErrorHandler.handle_error,
        ("error", REQUIRED), ("routine", REQUIRED), ("routine_id", REQUIRED), ("flow", REQUIRED),
        ("job_state", None), ("context", None),
    )  # fmt: skip
    assert_signature(ErrorHandler.reset)
    assert_signature(ErrorHandler.deserialize, ("data", REQUIRED), ("registry", None))
    handler = ErrorHandler()
    assert handler.strategy is ErrorStrategy.STOP and handler.retry_count == 0
    assert ErrorHandler("retry").strategy is ErrorStrategy.RETRY
    assert handler.is_retryable(ValueError()) and not handler.is_retryable(KeyboardInterrupt())


def test_handle_error_the_0_10_way() -> None:
    flow, routine, job = Flow(), Source(), JobState("f")
    error = RuntimeError("boom")
    assert ErrorHandler("stop").handle_error(error, routine, "r", flow) is False
    assert ErrorHandler("continue").handle_error(error, routine, "r", flow, job) is True
    assert job.get_execution_history("r")[0].event_name == "error_continued"
    assert ErrorHandler("skip").handle_error(error, routine, "s", flow, job) is True
    assert job.get_routine_state("s")["status"] == "skipped"  # type: ignore[index]
    retry = ErrorHandler(
        "retry", max_retries=2, retry_delay=0, retryable_exceptions=(RuntimeError,)
    )
    assert retry.handle_error(error, routine, "r", flow) is True
    assert retry.handle_error(error, routine, "r", flow) is True
    assert retry.retry_count == 2
    assert retry.handle_error(error, routine, "r", flow) is True  # exhausted, not critical
    assert retry.handle_error(KeyError("k"), routine, "r", flow) is False  # not retryable
    retry.is_critical = True
    assert retry.handle_error(error, routine, "r", flow) is False
    retry.reset()
    assert retry.retry_count == 0
    flow.shutdown()


def test_serialize_round_trip_keeps_retry_count() -> None:
    handler = ErrorHandler("retry", 5, 0.5, 3.0, (OSError, ValueError), is_critical=True)
    handler.retry_count = 2
    data = handler.serialize()
    copy = ErrorHandler()
    copy.deserialize(data)
    assert (copy.strategy, copy.max_retries, copy.retry_delay, copy.retry_backoff) == (
        ErrorStrategy.RETRY, 5, 0.5, 3.0
    )  # fmt: skip
    assert copy.retryable_exceptions == (OSError, ValueError)
    assert copy.is_critical and copy.retry_count == 2


def test_retryable_exceptions_never_import_or_accept_non_exceptions() -> None:
    data = ErrorHandler().serialize()
    for path in ["os:system", "builtins:eval", "no_such_module_abc:Error"]:
        data["retryable_exceptions"] = [path]
        with pytest.raises(UnsafeRestoreError, match=path):
            ErrorHandler().deserialize(data)
    import sys

    assert "no_such_module_abc" not in sys.modules
