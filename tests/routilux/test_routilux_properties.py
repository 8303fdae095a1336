"""Property tests for the pure parts: append merging and JobState round trips."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from routilux import JobState, Slot

messages = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(), max_size=3), max_size=8
)


@given(messages)
def test_append_collects_every_value_in_order(batch: list[dict[str, int]]) -> None:
    slot = Slot("s", merge_strategy="append")
    state = None
    for message in batch:
        state = slot.merge(state, message)
    expected: dict[str, list[int]] = {}
    for message in batch:
        for key, value in message.items():
            expected.setdefault(key, []).append(value)
    assert (state or {}) == expected


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5))
def test_job_state_dict_round_trip(shared: dict[str, object]) -> None:
    job = JobState("flow")
    for key, value in shared.items():
        job.update_shared_data(key, value)
    job.update_routine_state("r", status="completed")
    job.record_execution("r", "out", {"x": 1})
    assert JobState.from_dict(job.to_dict()).to_dict() == job.to_dict()


def test_concurrent_updates_are_not_lost() -> None:
    job = JobState("flow")

    def work(worker: int) -> None:
        for index in range(200):
            job.merge_slot_state("r.s", lambda old: {"n": (old or {"n": 0})["n"] + 1})
            job.record_execution(f"w{worker}", "e", {"i": index})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert job.slot_states["r.s"] == {"n": 1600}
    assert len(job.execution_history) == 1600
