"""The persistence contract, run against every provider (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from ruvon.errors import VersionConflict, WorkflowNotFound
from ruvon.providers.persistence import (
    HandedOverRecord,
    LogEntry,
    PersistenceProvider,
    TaskRecord,
    WorkflowRecord,
)

if TYPE_CHECKING:
    from conftest import StoreFactory


def make_record(workflow_id: str | None = None, **changes: Any) -> WorkflowRecord:
    record = WorkflowRecord(
        id=workflow_id or str(uuid.uuid4()),
        workflow_type="OrderProcessing",
        workflow_version="1.2.0",
        state_model_path="orders.models.OrderState",
        definition={
            "workflow_type": "OrderProcessing",
            "steps": [{"name": "A", "type": "STANDARD", "function": "orders.steps.a"}],
        },
        state={"order_id": "ORD-1", "items": [{"sku": "W-1", "quantity": 2, "price": 29.99}]},
        status="ACTIVE",
        current_step=0,
        metadata={"source": "test", "tags": ["a", "b"]},
        created_at=1_700_000_000.123456,
        updated_at=1_700_000_000.123456,
        parent_id=None,
    )
    return dataclasses.replace(record, **changes)


def task(
    workflow_id: str, step: str, name: str, status: str = "COMPLETED", **kw: Any
) -> TaskRecord:
    return TaskRecord(
        workflow_id=workflow_id,
        step_name=step,
        task_name=name,
        status=status,
        result=kw.get("result", {f"{name}_done": True}),
        error=kw.get("error"),
        started_at=kw.get("started_at", 10.5),
        ended_at=kw.get("ended_at", 11.25),
    )


# -- workflows ------------------------------------------------------------------------------------
async def test_save_and_load_round_trip_every_field(store: PersistenceProvider) -> None:
    record = make_record(
        parent_id="parent-1", status="WAITING_HUMAN", current_step=3, workflow_version="2.0"
    )
    before = time.time()
    assert await store.save_workflow(record) == 1
    after = time.time()

    loaded = await store.load_workflow(record.id)

    for name in (f.name for f in dataclasses.fields(WorkflowRecord)):
        if name not in ("version", "updated_at"):
            assert getattr(loaded, name) == getattr(record, name), name
    assert loaded.version == 1
    assert before <= loaded.updated_at <= after
    assert record.version == 0  # the caller's record is not modified


async def test_update_changes_every_mutable_field(store: PersistenceProvider) -> None:
    record = make_record()
    record.version = await store.save_workflow(record)
    record.state = {"order_id": "ORD-1", "paid": True}
    record.status = "COMPLETED"
    record.current_step = 4
    record.metadata = {"error": None}
    record.parent_id = "p"

    assert await store.save_workflow(record) == 2

    loaded = await store.load_workflow(record.id)
    assert (loaded.state, loaded.status, loaded.current_step, loaded.metadata) == (
        {"order_id": "ORD-1", "paid": True},
        "COMPLETED",
        4,
        {"error": None},
    )
    assert (loaded.parent_id, loaded.version) == ("p", 2)


async def test_list_filters_by_status_and_type_newest_first(store: PersistenceProvider) -> None:
    specs = [("A", "ACTIVE"), ("B", "ACTIVE"), ("A", "COMPLETED"), ("B", "FAILED"), ("A", "ACTIVE")]
    ids = []
    for i, (workflow_type, status) in enumerate(specs):
        record = make_record(f"wf-{i}", workflow_type=workflow_type, status=status)
        record.created_at = 1000.0 + i
        await store.save_workflow(record)
        ids.append(record.id)

    def listed(records: list[WorkflowRecord]) -> list[str]:
        return [r.id for r in records]

    assert listed(await store.list_workflows()) == ids[::-1]
    assert listed(await store.list_workflows(status="ACTIVE")) == ["wf-4", "wf-1", "wf-0"]
    assert listed(await store.list_workflows(workflow_type="B")) == ["wf-3", "wf-1"]
    assert listed(await store.list_workflows(status="ACTIVE", workflow_type="A")) == [
        "wf-4",
        "wf-0",
    ]
    assert listed(await store.list_workflows(limit=2)) == ["wf-4", "wf-3"]
    assert await store.list_workflows(status="CANCELLED") == []
    full = (await store.list_workflows(workflow_type="B", limit=1))[0]
    assert full.state == make_record().state and full.version == 1


async def test_stale_version_is_a_conflict_and_changes_nothing(store: PersistenceProvider) -> None:
    record = make_record()
    record.version = await store.save_workflow(record)
    stale = dataclasses.replace(record, state={"by": "stale"})
    record.state = {"by": "first"}
    record.version = await store.save_workflow(record)

    with pytest.raises(VersionConflict, match=record.id):
        await store.save_workflow(stale)

    loaded = await store.load_workflow(record.id)
    assert (loaded.state, loaded.version) == ({"by": "first"}, 2)


def handed_over(record: WorkflowRecord, **changes: Any) -> HandedOverRecord:
    """``record`` as the engine saves it: a HandedOverRecord the caller does not use again."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    return HandedOverRecord(**{**fields, **changes})


async def test_a_handed_over_record_is_saved_like_any_other(store: PersistenceProvider) -> None:
    metadata: dict[str, Any] = {"source": "engine"}
    first = handed_over(make_record(), metadata=metadata)
    version = await store.save_workflow(first)
    metadata["later"] = "a change of the workflow's live metadata after the save"
    assert (await store.load_workflow(first.id)).metadata == {"source": "engine"}
    second = handed_over(first, state={"n": 2}, status="COMPLETED", version=version, metadata={})
    assert await store.save_workflow(second) == 2
    loaded = await store.load_workflow(first.id)
    assert (loaded.state, loaded.status, loaded.metadata, loaded.version) == (
        {"n": 2},
        "COMPLETED",
        {},
        2,
    )
    assert type(loaded) is WorkflowRecord, "a loaded record is the caller's own plain copy"
    loaded.state["n"] = 99
    assert (await store.load_workflow(first.id)).state == {"n": 2}
    with pytest.raises(VersionConflict, match=first.id):  # a stale copy still conflicts
        await store.save_workflow(handed_over(first, state={"by": "stale"}, version=1))
    assert (await store.load_workflow(first.id)).state == {"n": 2}


async def test_duplicate_insert_is_a_conflict(store: PersistenceProvider) -> None:
    record = make_record(state={"n": 1})
    await store.save_workflow(record)

    with pytest.raises(VersionConflict, match=record.id):
        await store.save_workflow(make_record(record.id, state={"n": 2}))

    assert (await store.load_workflow(record.id)).state == {"n": 1}


async def test_updating_a_missing_workflow_is_a_conflict(store: PersistenceProvider) -> None:
    with pytest.raises(VersionConflict, match="never-saved"):
        await store.save_workflow(make_record("never-saved", version=3))
    with pytest.raises(WorkflowNotFound):
        await store.load_workflow("never-saved")


async def test_workflow_not_found_names_the_id(store: PersistenceProvider) -> None:
    with pytest.raises(WorkflowNotFound) as caught:
        await store.load_workflow("no-such-id-42")
    assert "no-such-id-42" in str(caught.value)
    assert str(caught.value).endswith(".")


# -- task records ---------------------------------------------------------------------------------
async def test_task_records_save_replace_and_load(store: PersistenceProvider) -> None:
    await store.save_task_result(task("w1", "Par", "a", "FAILED", result=None, error="boom"))
    await store.save_task_result(task("w1", "Par", "b", started_at=1.5, ended_at=2.75))
    await store.save_task_result(task("w1", "Other", "a"))
    await store.save_task_result(task("w2", "Par", "a"))

    first = await store.load_task_results("w1", "Par")
    assert first["a"] == task("w1", "Par", "a", "FAILED", result=None, error="boom")
    assert first["b"] == task("w1", "Par", "b", started_at=1.5, ended_at=2.75)

    await store.save_task_result(task("w1", "Par", "a", result={"x": [1, {"y": "z"}]}))
    replaced = await store.load_task_results("w1", "Par")
    assert set(replaced) == {"a", "b"}
    assert replaced["a"] == task("w1", "Par", "a", result={"x": [1, {"y": "z"}]})
    assert await store.load_task_results("w1", "Missing") == {}


async def test_task_records_saved_together(store: PersistenceProvider) -> None:
    await store.save_task_result(task("w1", "Par", "a", "FAILED", result=None, error="x"))
    burst = [task("w1", "Par", "a"), task("w1", "Par", "b", result={"b": [1.5]})]

    await store.save_task_results(burst)
    await store.save_task_results([])

    assert await store.load_task_results("w1", "Par") == {"a": burst[0], "b": burst[1]}


async def test_fan_out_records_with_an_index_save_replace_and_load(
    store: PersistenceProvider,
) -> None:
    """Records of a dynamic fan-out carry their item index (the in-memory store keeps them
    compactly); every store gives back the same names, statuses, results and errors."""

    def item(i: int, status: str = "COMPLETED", **kw: Any) -> TaskRecord:
        return dataclasses.replace(task("w1", "Fan", f"Fan[{i}]", status, **kw), index=i)

    await store.save_task_results([item(3, result=None), item(0, result={"v": [0]})])
    await store.save_task_results([item(1, "FAILED", result=None, error="boom"), item(7)])
    await store.save_task_results([item(3, "FAILED", result=None, error="late")])  # replaces
    await store.save_task_results([item(1, result={"v": 1})])  # a retried failure succeeded
    await store.save_task_results([dataclasses.replace(task("w1", "Fan", "odd"), index=2)])

    loaded = await store.load_task_results("w1", "Fan")
    assert sorted(loaded) == ["Fan[0]", "Fan[1]", "Fan[3]", "Fan[7]", "odd"]
    seen = {n: (r.status, r.result, r.error, r.task_name) for n, r in loaded.items()}
    assert seen == {
        "Fan[0]": ("COMPLETED", {"v": [0]}, None, "Fan[0]"),
        "Fan[1]": ("COMPLETED", {"v": 1}, None, "Fan[1]"),
        "Fan[3]": ("FAILED", None, "late", "Fan[3]"),
        "Fan[7]": ("COMPLETED", {"Fan[7]_done": True}, None, "Fan[7]"),
        "odd": ("COMPLETED", {"odd_done": True}, None, "odd"),
    }
    loaded["Fan[0]"].result["v"].append(1)  # a copy: the stored result is unchanged
    again = await store.load_task_results("w1", "Fan")
    assert again["Fan[0]"].result == {"v": [0]}
    record = make_record("w1")
    record.version = await store.save_workflow(record)
    await store.save_workflow(record, finished_step="Fan")
    assert await store.load_task_results("w1", "Fan") == {}


async def test_finished_step_clears_only_that_steps_task_records(
    store: PersistenceProvider,
) -> None:
    record = make_record("w1")
    record.version = await store.save_workflow(record)
    for workflow_id, step in [("w1", "Par"), ("w1", "Other"), ("w2", "Par")]:
        await store.save_task_result(task(workflow_id, step, "t"))

    await store.save_workflow(record, finished_step="Par")

    assert await store.load_task_results("w1", "Par") == {}
    assert set(await store.load_task_results("w1", "Other")) == {"t"}
    assert set(await store.load_task_results("w2", "Par")) == {"t"}


# -- the execution log ----------------------------------------------------------------------------
async def test_log_is_kept_in_order_and_saved_with_the_workflow(store: PersistenceProvider) -> None:
    record = make_record("w1")
    entries = [
        LogEntry("w1", "STEP_COMPLETED", "A", at=5.5, duration=0.25),
        LogEntry("w1", "TASK_FAILED", "Par", "t1", at=6.0, duration=None, message="boom ✗"),
    ]
    created = LogEntry("w1", "STATUS_CHANGED", message="created", at=1.0)
    record.version = await store.save_workflow(record, log=[created])
    record.version = await store.save_workflow(record, log=entries)
    record.version = await store.save_workflow(record)  # no log rows
    await store.save_workflow(record, log=[LogEntry("w1", "STEP_COMPLETED", "B", at=7.0)])
    await store.save_workflow(make_record("w2"), log=[LogEntry("w2", "STEP_COMPLETED", "X", at=8)])

    log = await store.load_log("w1")

    assert [e.event for e in log] == [
        "STATUS_CHANGED",
        "STEP_COMPLETED",
        "TASK_FAILED",
        "STEP_COMPLETED",
    ]
    assert log[0] == created
    assert log[1:3] == entries
    assert [e.workflow_id for e in await store.load_log("w2")] == ["w2"]
    assert await store.load_log("nobody") == []


async def test_a_conflicting_save_appends_no_log_and_keeps_task_records(
    store: PersistenceProvider,
) -> None:
    record = make_record("w1")
    await store.save_workflow(record, log=[LogEntry("w1", "CREATED", at=1.0)])
    await store.save_task_result(task("w1", "Par", "t"))

    with pytest.raises(VersionConflict):  # record.version is still 0: stale
        await store.save_workflow(record, finished_step="Par", log=[LogEntry("w1", "LOST", at=2.0)])

    assert [e.event for e in await store.load_log("w1")] == ["CREATED"]
    assert set(await store.load_task_results("w1", "Par")) == {"t"}


@pytest.mark.parametrize("entries", [1, 12])  # PostgreSQL: log rows as parameters, as arrays
async def test_a_stale_update_with_log_rows_is_a_conflict_and_appends_nothing(
    store: PersistenceProvider, entries: int
) -> None:
    # The store learns whether the workflow row matched from the save's statement itself
    # (PostgreSQL: the log INSERT's row count); a stale save must not pass for a matched one.
    record = make_record("w1")
    record.version = await store.save_workflow(record)
    stale = dataclasses.replace(record)
    record.state = {"by": "first"}
    log = [LogEntry("w1", "STEP_COMPLETED", step_name=f"s{i}", at=2.0 + i) for i in range(entries)]
    record.version = await store.save_workflow(record, log=log)
    assert record.version == 2

    stale.state = {"by": "stale"}
    lost = [LogEntry("w1", "LOST", at=9.0 + i) for i in range(entries)]
    with pytest.raises(VersionConflict, match="w1"):
        await store.save_workflow(stale, finished_step="A", log=lost)

    loaded = await store.load_workflow("w1")
    assert (loaded.state, loaded.version) == ({"by": "first"}, 2)
    assert [e.event for e in await store.load_log("w1")] == ["STEP_COMPLETED"] * entries


# -- JSON fidelity --------------------------------------------------------------------------------
TRICKY: dict[str, Any] = {
    "nested": {"a": [1, 2.5, {"b": None, "c": True, "d": False}], "e": {"f": {"g": []}}},
    "unicode": 'héllo — 日本語 🚀 "quoted" back\\slash\nnew line\ttab',
    "ключ ✓": "non-ASCII key",
    "floats": [0.1, 1 / 3, -2.5e-10, 1e15 + 0.5, 123456789.12345679, 1.0, 5e-324],
    "ints": [0, -1, 2**53 + 1, 2**62],
    "empty": {"dict": {}, "list": [], "string": ""},
    "mixed": [[1, [2, [3, [4]]]], {"x": [{"y": {"z": "deep"}}]}],
}


def assert_same_json(got: Any, want: Any) -> None:
    assert got == want
    assert type(got) is type(want), (got, want)
    if isinstance(want, dict):
        for key in want:
            assert_same_json(got[key], want[key])
    elif isinstance(want, list):
        for g, w in zip(got, want, strict=True):
            assert_same_json(g, w)


async def test_json_columns_keep_nested_values_unicode_and_floats(
    store: PersistenceProvider,
) -> None:
    record = make_record("json-1", state=TRICKY, metadata={"m": TRICKY}, definition={"d": TRICKY})
    await store.save_workflow(record)
    await store.save_task_result(task("json-1", "Par", "t", result=TRICKY))

    loaded = await store.load_workflow("json-1")
    assert_same_json(loaded.state, TRICKY)
    assert_same_json(loaded.metadata, {"m": TRICKY})
    assert_same_json(loaded.definition, {"d": TRICKY})
    result = (await store.load_task_results("json-1", "Par"))["t"].result
    assert_same_json(result, TRICKY)


# -- concurrency ----------------------------------------------------------------------------------
async def _save_three_times(store: PersistenceProvider, workflow_id: str, n: int) -> None:
    record = make_record(workflow_id, state={"n": n, "step": 0})
    for step in range(3):
        record.state = {"n": n, "step": step, "payload": [n] * 5}
        record.version = await store.save_workflow(record)


async def test_200_concurrent_savers_lose_nothing(store: PersistenceProvider) -> None:
    await asyncio.gather(*(_save_three_times(store, f"c-{n}", n) for n in range(200)))

    stored = await store.list_workflows(limit=1000)
    assert len(stored) == 200
    for record in stored:
        n = int(record.id.removeprefix("c-"))
        assert (record.version, record.state) == (3, {"n": n, "step": 2, "payload": [n] * 5})


async def test_savers_in_threads_lose_nothing(stores: StoreFactory) -> None:
    # SQLite and memory share one provider across threads; the Postgres pool belongs to one event
    # loop, so each thread (its own loop) gets its own provider, as a worker process would.
    shared = None if stores.kind == "postgres" else stores.new()
    errors: list[BaseException] = []

    def worker(first: int) -> None:
        async def run() -> None:
            provider = shared or stores.new()
            await provider.initialize()
            for n in range(first, first + 25):
                await _save_three_times(provider, f"t-{n}", n)
            if shared is None:
                await provider.close()

        try:
            asyncio.run(run())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(first,)) for first in range(0, 200, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    reader = shared or stores.new()
    stored = await reader.list_workflows(limit=1000)
    assert sorted(int(r.id.removeprefix("t-")) for r in stored) == list(range(200))
    assert all(r.version == 3 and r.state["step"] == 2 for r in stored)


async def test_racing_writers_of_one_version_have_exactly_one_winner(
    store: PersistenceProvider,
) -> None:
    record = make_record("race")
    record.version = await store.save_workflow(record)

    async def write(n: int) -> str:
        try:
            await store.save_workflow(dataclasses.replace(record, state={"winner": n}))
        except VersionConflict:
            return "conflict"
        return "saved"

    outcomes = await asyncio.gather(*(write(n) for n in range(20)))

    assert sorted(outcomes) == ["conflict"] * 19 + ["saved"]
    loaded = await store.load_workflow("race")
    assert loaded.version == 2 and outcomes[loaded.state["winner"]] == "saved"


@pytest.mark.parametrize("count", [2, 9, 30])
async def test_many_log_rows_in_one_save_keep_their_order(
    store: PersistenceProvider, count: int
) -> None:
    record = make_record("w1")
    entries = [
        LogEntry("w1", "TASK_COMPLETED", "Par", f"t{i}", at=float(i), duration=i or None)
        for i in range(count)
    ]
    record.version = await store.save_workflow(record, log=entries[:1])
    await store.save_workflow(record, finished_step="Par", log=entries[1:])

    assert await store.load_log("w1") == entries


async def test_updates_from_two_providers_keep_every_column(stores: StoreFactory) -> None:
    first, second = stores.new(), stores.new()
    await first.initialize()
    await second.initialize()
    record = make_record("w1")
    record.version = await first.save_workflow(record)
    changes: list[dict[str, Any]] = [
        {"status": "WAITING_HUMAN"},
        {"metadata": {"k": 1}},
        {"engine": {"retries": {"A": 1}}},
        {"parent_id": "p"},
        {"status": "ACTIVE", "metadata": {}},
    ]
    for turn, change in enumerate(changes * 2):
        writer = (first, second)[turn % 2]
        record = await writer.load_workflow("w1")
        record.state = {"turn": turn}
        record.version = await writer.save_workflow(record)  # then the change, by the same writer
        for name, value in change.items():
            setattr(record, name, value)
        expected = dataclasses.replace(record)
        record.version = await writer.save_workflow(record)

        for reader in (first, second):
            loaded = await reader.load_workflow("w1")
            for name in ("state", "status", "metadata", "engine", "parent_id"):
                assert getattr(loaded, name) == getattr(expected, name), (turn, name)
