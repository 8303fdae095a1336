"""``ruvon serve``, ``start``, ``status``, ``scan-zombies``, ``cancel`` and two drivers, as real
processes on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
from collections import Counter

from runtime_kit import (
    completed_steps,
    duplicates,
    query,
    sigterm,
    statuses,
    wait_until,
)

FAST = ("--lease-seconds", "1.5", "--poll", "0.1")


def test_workers_drain_started_workflows_and_stop_cleanly(project):
    ids = [project.start("Chain5") for _ in range(2)] + project.start_many("Chain5", 10)
    workers = [project.serve(f"w{i}", "--concurrency", "3", *FAST) for i in range(2)]
    wait_until(
        lambda: set(statuses(project.db).values()) == {"COMPLETED"}, 60, "all workflows to complete"
    )
    live = json.loads(project.run("status", "--json").stdout)
    assert sorted(w["pid"] for w in live) == sorted(p.pid for p in workers)
    assert [sigterm(worker) for worker in workers] == [0, 0]
    assert json.loads(project.run("status", "--json").stdout) == []
    assert Counter(completed_steps(project.db)) == {
        (wid, f"Step{i}"): 1 for wid in ids for i in range(1, 6)
    }
    assert duplicates(project.step_runs(), "start") == {}
    rows = query(project.db, "SELECT state FROM workflows")
    states = [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]
    assert all(s["trail"] == [f"Step{i}" for i in range(1, 6)] for s in states)


def test_a_killed_workers_workflow_moves_on_once_its_lease_expires(project):
    workflow_id = project.start("Slow")
    first = project.serve("first", *FAST, RT_SLOW="1.0")
    wait_until(lambda: project.step_runs(), 30, "the first step to run")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    zombies = wait_until(
        lambda: json.loads(project.run("scan-zombies", "--json").stdout), 10, "the zombie"
    )
    assert [z["id"] for z in zombies] == [workflow_id]
    assert f":{first.pid}:" in zombies[0]["owner"]
    second = project.serve("second", *FAST, RT_SLOW="0.2")
    wait_until(lambda: statuses(project.db)[workflow_id] == "COMPLETED", 30, "completion")
    assert sigterm(second) == 0
    assert Counter(completed_steps(project.db)) == {(workflow_id, f"Slow{i}"): 1 for i in (1, 2, 3)}
    for pids in duplicates(project.step_runs()).values():
        assert [pid for pid in pids if pid != first.pid] == [second.pid]  # only the dead one re-ran


def test_sigterm_checkpoints_releases_and_exits_zero(project):
    workflow_id = project.start("Slow")
    first = project.serve("first", *FAST, RT_SLOW="0.6")
    wait_until(lambda: project.step_runs(), 30, "the first step to run")
    assert sigterm(first) == 0
    [(status, owner, step)] = query(
        project.db,
        "SELECT status, owner, current_step FROM workflows WHERE id = %s",
        (workflow_id,),
    )
    assert (status, owner) == ("ACTIVE", None) and 1 <= step < 3
    second = project.serve("second", *FAST, RT_SLOW="0.05")
    wait_until(lambda: statuses(project.db)[workflow_id] == "COMPLETED", 30, "completion")
    assert sigterm(second) == 0
    assert duplicates(project.step_runs()) == {}


def test_human_input_sent_from_another_process_is_picked_up_by_a_worker(project):
    workflow_id = project.start("Human")
    worker = project.serve("worker", *FAST)
    wait_until(lambda: statuses(project.db)[workflow_id] == "WAITING_HUMAN", 30, "the pause")
    sent = project.run("resume", workflow_id, "--input", '{"ok": true}', "--detach")
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: statuses(project.db)[workflow_id] == "COMPLETED", 30, "completion")
    assert sigterm(worker) == 0
    [(state,)] = query(project.db, "SELECT state FROM workflows WHERE id = %s", (workflow_id,))
    assert (state if isinstance(state, dict) else json.loads(state))["ok"] is True


def test_a_parent_is_woken_when_its_child_ends_on_a_worker(project):
    parent_id = project.start("Parent")
    worker = project.serve("worker", *FAST)
    wait_until(lambda: statuses(project.db)[parent_id] == "PENDING_SUB_WORKFLOW", 30, "the wait")
    [(child_id,)] = query(project.db, "SELECT id FROM workflows WHERE parent_id = %s", (parent_id,))
    wait_until(lambda: statuses(project.db)[child_id] == "WAITING_HUMAN", 30, "the child's pause")
    sent = project.run("resume", child_id, "--input", '{"ok": true}', "--detach")
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: statuses(project.db)[parent_id] == "COMPLETED", 30, "the parent to end")
    assert sigterm(worker) == 0
    [(state,)] = query(project.db, "SELECT state FROM workflows WHERE id = %s", (parent_id,))
    state = state if isinstance(state, dict) else json.loads(state)
    assert state["child"]["ok"] is True and state["trail"] == ["Step1", "Step3"]


def test_two_drivers_of_one_workflow_one_wins_nothing_runs_twice(project):
    workflow_id = project.start("Slow")
    drivers = [project.spawn(f"d{i}", "resume", workflow_id, RT_SLOW="0.6") for i in range(2)]
    codes = sorted(driver.wait(timeout=60) for driver in drivers)
    assert codes == [0, 1]
    loser = next(i for i, d in enumerate(drivers) if d.returncode == 1)
    error = (project.root / f"d{loser}.err").read_text()
    assert "is being driven by owner" in error and "lease runs until" in error
    assert statuses(project.db)[workflow_id] == "COMPLETED"
    assert duplicates(project.step_runs()) == {}
    assert len(project.step_runs()) == 3


def test_cancel_from_another_process_stops_a_running_parallel_step(project):
    workflow_id = project.start("Fan")
    driver = project.spawn("driver", "resume", workflow_id, RUVON_LEASE_SECONDS="0.6")
    wait_until(lambda: len(project.step_runs()) >= 3, 30, "the three tasks to start")
    cancelled = project.run("cancel", workflow_id)
    assert cancelled.returncode == 0 and "CANCELLED" in cancelled.stdout, cancelled.stderr
    [(version,)] = query(project.db, "SELECT version FROM workflows WHERE id = %s", (workflow_id,))
    assert driver.wait(timeout=30) == 1
    assert "cancelled" in (project.root / "driver.err").read_text()
    [(status, after)] = query(
        project.db, "SELECT status, version FROM workflows WHERE id = %s", (workflow_id,)
    )
    assert (status, after) == ("CANCELLED", version)  # nothing saved after the cancel
    assert query(project.db, "SELECT * FROM task_results") == []
    assert [what for *_, what in project.step_runs()].count("stopped") == 3
    [(event, message)] = query(
        project.db,
        "SELECT event, message FROM execution_log WHERE workflow_id = %s ORDER BY id DESC LIMIT 1",
        (workflow_id,),
    )
    assert event == "STATUS_CHANGED" and "CANCELLED" in message


def test_start_prints_the_id_and_keys_return_the_first_workflow(project):
    first = project.run("start", "Chain5", "--data", '{"n": 1}', "--idempotency-key", "k-1")
    again = project.run("start", "Chain5", "--data", '{"n": 1}', "--idempotency-key", "k-1")
    other = project.run(
        "start", "Chain5", "--data", '{"n": 2}', "--idempotency-key", "k-1", "--json"
    )
    assert first.returncode == again.returncode == other.returncode == 0, other.stderr
    workflow_id = first.stdout.strip()
    assert again.stdout.strip() == workflow_id and "already started" in again.stderr
    assert json.loads(other.stdout) == {
        "workflow_id": workflow_id,
        "created": False,
        "data_differs": True,
    }
    assert "other data" in other.stderr
    assert statuses(project.db) == {workflow_id: "ACTIVE"}


def test_scan_zombies_fix_fails_workflows_whose_owner_is_gone(project):
    workflow_id = project.start("Slow")
    live = project.start("Slow")
    query(
        project.db,
        "UPDATE workflows SET owner = 'elsewhere:1:dead', lease_expires_at = 1.0 WHERE id = %s",
        (workflow_id,),
    )
    listed = json.loads(project.run("scan-zombies", "--json").stdout)
    assert [(z["id"], z["owner"], z["status"]) for z in listed] == [
        (workflow_id, "elsewhere:1:dead", "ACTIVE")
    ]
    fixed = project.run("scan-zombies", "--fix")
    assert fixed.returncode == 0 and workflow_id in fixed.stdout, fixed.stderr
    assert statuses(project.db) == {workflow_id: "FAILED_WORKER_CRASH", live: "ACTIVE"}
    assert "no zombie workflows" in project.run("scan-zombies").stdout
