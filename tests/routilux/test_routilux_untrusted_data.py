"""Saved flows and JobStates are data: tried as an attacker would, nothing runs.

Each attack names a module whose import has a visible side effect (``this`` prints
the Zen of Python) or a dangerous callable, and checks that it is refused with an
error naming it, and that the module was never imported.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from routilux_sample_routines import Recorder, Source

from routilux import Flow, JobState, Routine
from routilux.errors import SerializationError, UnsafeRestoreError

SIDE_EFFECT_MODULE = "this"


@pytest.fixture(autouse=True)
def _module_stays_unimported() -> Any:
    assert SIDE_EFFECT_MODULE not in sys.modules
    yield
    assert SIDE_EFFECT_MODULE not in sys.modules


def saved_flow() -> dict[str, Any]:
    flow = Flow()
    flow.add_routine(Source(), "src")
    flow.add_routine(Recorder(), "rec")
    flow.connect("src", "out", "rec", "in")
    data = json.loads(json.dumps(flow.serialize()))
    flow.shutdown()
    return data


def function_ref(module: str, name: str) -> dict[str, Any]:
    return {"_type": "callable", "callable_type": "function", "module": module, "name": name}


@pytest.mark.parametrize(
    ("ref", "named"),
    [
        (function_ref("os", "system"), "os:system"),
        (function_ref(SIDE_EFFECT_MODULE, "anything"), SIDE_EFFECT_MODULE),
        ({"_type": "callable", "callable_type": "builtin", "name": "eval"}, "eval"),
        ({"_type": "lambda_expression", "expression": "__import__('os')"}, "__import__"),
        ({"_type": "function", "module": "subprocess", "name": "run"}, "subprocess:run"),
        (
            {
                "_type": "callable",
                "callable_type": "method",
                "class_name": "Recorder",
                "method_name": "__init__",
                "object_id": "rec",
            },
            "__init__",
        ),
        (
            {
                "_type": "callable",
                "callable_type": "method",
                "class_name": "Popen",
                "method_name": "wait",
                "object_id": "rec",
            },
            "Popen",
        ),
    ],
)
def test_a_handler_path_is_refused_naming_it(ref: dict[str, Any], named: str) -> None:
    data = saved_flow()
    data["routines"]["rec"]["_slots"]["in"]["handler"] = ref
    started = time.monotonic()
    with pytest.raises(UnsafeRestoreError, match=named):
        Flow().deserialize(data)
    assert time.monotonic() - started < 1


def test_a_merge_strategy_path_is_refused() -> None:
    data = saved_flow()
    data["routines"]["rec"]["_slots"]["in"]["merge_strategy"] = function_ref("os", "system")
    with pytest.raises(UnsafeRestoreError, match="os:system"):
        Flow().deserialize(data)


@pytest.mark.parametrize("name", [f"{SIDE_EFFECT_MODULE}:Thing", "subprocess:Popen", "os:system"])
def test_a_routine_class_path_is_never_imported(name: str) -> None:
    data = saved_flow()
    data["routines"]["rec"]["class"] = name
    with pytest.raises(UnsafeRestoreError, match=name):
        Flow().deserialize(data)


def test_added_fields_resolve_only_registered_classes() -> None:
    class Holder(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.payload: Any = None
            self.add_serializable_fields(["payload"])

    holder = Holder()
    data = holder.serialize()
    data["payload"] = {"_type": f"{SIDE_EFFECT_MODULE}:Thing"}
    with pytest.raises(UnsafeRestoreError, match="Thing"):
        Holder().deserialize(data)
    data["payload"] = function_ref("os", "system")
    with pytest.raises(UnsafeRestoreError, match="os:system"):
        Holder().deserialize(data)


def test_retryable_exception_paths_are_refused() -> None:
    data = saved_flow()
    data["error_handler"] = {"strategy": "retry", "retryable_exceptions": ["os:system"]}
    with pytest.raises(UnsafeRestoreError, match="os:system"):
        Flow().deserialize(data)


def test_allow_modules_is_the_explicit_door() -> None:
    data = saved_flow()
    data["routines"]["rec"]["_slots"]["in"]["merge_strategy"] = function_ref(
        "routilux_sample_routines", "keep_larger"
    )
    with pytest.raises(UnsafeRestoreError):
        Flow().deserialize(data)
    flow = Flow().deserialize(data, allow_modules=["routilux_sample_routines"])
    assert flow.routines["rec"].slots["in"].merge_strategy.__name__ == "keep_larger"
    flow.shutdown()


def test_a_saved_job_naming_classes_and_callables_stays_data(tmp_path: Path) -> None:
    job = JobState("f")
    data = job.serialize()
    data["shared_data"] = {"x": {"_type": f"{SIDE_EFFECT_MODULE}:Thing"},
                           "y": function_ref(SIDE_EFFECT_MODULE, "f")}  # fmt: skip
    data["execution_history"] = [{"routine_id": "r", "event_name": "e",
                                  "data": {"_type": "lambda_expression", "expression": "1"}}]  # fmt: skip
    data["status"] = "no-such-status"
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = JobState.load(path)
    assert loaded.shared_data["x"] == {"_type": f"{SIDE_EFFECT_MODULE}:Thing"}
    assert loaded.status == "pending"
    assert loaded.execution_history[0].data["_type"] == "lambda_expression"


def test_a_saved_job_with_tasks_for_unknown_routines_does_not_resume() -> None:
    flow = Flow()
    flow.add_routine(Source(), "src")
    job = JobState(flow.flow_id)
    job.status = "paused"
    job.pending_tasks = [{"job_id": job.job_id, "routine_id": "os", "slot": "system", "data": {}}]
    with pytest.raises(KeyError, match="'os'"):
        flow.resume(job)
    flow.shutdown()


def test_huge_nesting_and_huge_files_are_refused_fast(tmp_path: Path) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    big = tmp_path / "big.json"
    big.write_text(
        json.dumps({"job_id": "j", "shared_data": {"x": "a" * 2_000_000}}), encoding="utf-8"
    )
    started = time.monotonic()
    with pytest.raises(SerializationError, match="not a saved job"):
        JobState.load(nested)
    with pytest.raises(SerializationError, match="larger than 1000000 bytes"):
        JobState.load(big, max_bytes=1_000_000)
    deep: Any = {}
    for _ in range(500):
        deep = {"x": deep}
    data = saved_flow()
    data["routines"]["rec"]["_config"] = deep
    with pytest.raises(SerializationError, match="nested deeper"):
        Flow().deserialize(data)
    assert time.monotonic() - started < 1
