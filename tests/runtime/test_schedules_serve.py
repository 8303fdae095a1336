"""Real time: a schedule ticking every second, served by three ``ruvon serve`` processes that are
all killed (SIGKILL) and restarted. Each tick starts exactly one workflow; the ticks missed while
every worker was down follow the catch-up policy."""

from __future__ import annotations

import signal
import time

import pytest
from runtime_kit import query, sigterm, statuses, wait_until

pytestmark = pytest.mark.slow

WORKER_ARGS = ("--concurrency", "2", "--lease-seconds", "2", "--poll", "0.2")
DOWN_SECONDS = 4.0


def ticks(db: str) -> dict[float, str]:
    """The schedule's started ticks (from their idempotency keys) and their workflows."""
    sql = "SELECT key, workflow_id FROM ruvon_idempotency WHERE key LIKE %s"
    rows = query(db, sql, ("schedule:%",))
    found = {float(str(key).rsplit(":", 1)[1]): str(wid) for key, wid in rows}
    assert len(found) == len(rows)
    return found


def serve_three(project, round_: int):
    return [project.serve(f"r{round_}w{i}", *WORKER_ARGS) for i in range(3)]


@pytest.mark.parametrize("policy", ["coalesce", "all"])
def test_every_tick_starts_one_workflow_across_kill_and_restart(project, policy):
    added = project.run(
        "schedule", "add", "Chain5", "--cron", "* * * * * *", "--name", "tick",
        "--catch-up", policy, "--data", '{"n": 0}',
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    workers = serve_three(project, 1)
    wait_until(lambda: len(ticks(project.db)) >= 4, 60, "four ticks before the kill")
    for worker in workers:
        worker.send_signal(signal.SIGKILL)
    for worker in workers:
        worker.wait(timeout=10)
    killed_at = time.time()
    before = set(ticks(project.db))
    time.sleep(DOWN_SECONDS)  # ticks pass while nothing runs
    restarted_at = time.time()
    workers = serve_three(project, 2)
    wait_until(
        lambda: len([t for t in ticks(project.db) if t > restarted_at]) >= 3,
        60,
        "three ticks after the restart",
    )
    wait_until(  # a worker still importing would die of SIGTERM before it can handle it
        lambda: {w.pid for w in workers} <= {w["pid"] for w in project.status()}, 30, "workers"
    )
    assert [sigterm(w) for w in workers] == [0, 0, 0]

    started = ticks(project.db)
    by_status = statuses(project.db)
    # One workflow per tick, and no workflow that no tick started.
    assert len(set(started.values())) == len(started) == len(by_status)
    assert all(tick == int(tick) for tick in started)
    missed = [t for t in started if killed_at < t < restarted_at]
    if policy == "all":  # every second from the first tick to the last has its workflow
        first, last = min(started), max(started)
        assert sorted(started) == [first + i for i in range(int(last - first) + 1)]
        assert len(missed) >= DOWN_SECONDS - 1
    else:  # the ticks missed while down were coalesced into (at most) one run
        assert len(missed) <= 1
        assert max(started) - min(started) + 1 > len(started)  # some ticks were skipped
    assert before <= set(started)
    (row,) = query(project.db, "SELECT runs FROM ruvon_schedules WHERE name = 'tick'")
    assert int(row[0]) >= len(started) - 3  # a killed worker may have started, not counted
