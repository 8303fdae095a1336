"""Chaos: 300 five-step workflows served by three workers, one of which is killed (SIGKILL) every
two seconds and replaced. Every workflow completes, every step's result is applied exactly once,
and a step runs twice only when the worker that ran it first died or logged LEASE_LOST."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter

import pytest
from runtime_kit import (
    completed_steps,
    duplicates,
    lease_lost_pids,
    query,
    sigterm,
    statuses,
    wait_until,
)

pytestmark = pytest.mark.slow

WORKFLOWS = 300
BY_CLI = 6  # the rest through start_workflow() in one process: 300 CLI starts take minutes
WORKER_ARGS = ("--concurrency", "2", "--lease-seconds", "2", "--poll", "0.2")
KILL_EVERY = 2.0
TIMEOUT = 150.0


def test_chaos_every_workflow_completes_and_no_result_is_applied_twice(project):
    ids = [project.start("Chain5") for _ in range(BY_CLI)]
    ids += project.start_many("Chain5", WORKFLOWS - BY_CLI)
    rng = random.Random(12)
    workers = [project.serve(f"w{i}", *WORKER_ARGS) for i in range(3)]
    killed: set[int] = set()
    deadline = time.monotonic() + TIMEOUT
    while set(statuses(project.db).values()) != {"COMPLETED"}:
        assert time.monotonic() < deadline, Counter(statuses(project.db).values())
        time.sleep(KILL_EVERY)
        victim = rng.choice([w for w in workers if w.poll() is None])
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed.add(victim.pid)
        workers.append(project.serve(f"w{len(workers)}", *WORKER_ARGS))
    alive = [w for w in workers if w.poll() is None]
    wait_until(  # a worker still importing would die of SIGTERM before it can handle it
        lambda: {w.pid for w in alive} <= {w["pid"] for w in project.status()}, 30, "registration"
    )
    assert [sigterm(w) for w in alive] == [0] * len(alive)

    assert len(statuses(project.db)) == WORKFLOWS and len(killed) >= 3
    steps = [f"Step{i}" for i in range(1, 6)]
    assert Counter(completed_steps(project.db)) == {(wid, s): 1 for wid in ids for s in steps}
    for (state,) in query(project.db, "SELECT state FROM workflows"):
        state = state if isinstance(state, dict) else json.loads(state)
        assert state["n"] == 5 and state["trail"] == steps
    excused = killed | lease_lost_pids(project.root)
    reruns = duplicates(project.step_runs(), "start")
    for key, pids in reruns.items():
        assert len([pid for pid in pids if pid not in excused]) <= 1, (key, pids, excused)
    assert reruns  # the kills did interrupt running steps, which other workers then re-ran
    ran = {(wid, step) for wid, step, _, what in project.step_runs() if what == "ran"}
    assert len(ran) == WORKFLOWS * 5
