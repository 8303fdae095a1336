"""Durable timers, signals and queues as real processes on SQLite and PostgreSQL, across kill -9."""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path
from typing import Any

from runtime_kit import Project, query, statuses, wait_until

FAST = ("--lease-seconds", "1.5", "--poll", "0.1")

TIMER_FLOWS = {
    "napper.yaml": """
        workflow_type: Napper
        initial_state_model: rtflows.models.ChainState
        steps:
          - {name: Step1, function: rtflows.steps.work, automate_next: true}
          - {name: Nap, type: SLEEP, seconds: 2, automate_next: true}
          - {name: Step3, function: rtflows.steps.work}
    """,
    "gates.yaml": """
        workflow_type: Gates
        initial_state_model: rtflows.models.ChainState
        steps:
          - {name: Step1, function: rtflows.steps.work, automate_next: true}
          - {name: Gate1, type: WAIT_FOR_SIGNAL, signal: first, automate_next: true}
          - {name: Step2, function: rtflows.steps.work, automate_next: true}
          - {name: Gate2, type: WAIT_FOR_SIGNAL, signal: second, output_key: child,
             automate_next: true}
          - {name: Step3, function: rtflows.steps.work}
    """,
    "limited.yaml": """
        workflow_type: Limited
        initial_state_model: rtflows.models.ChainState
        max_active: 1
        steps:
          - {name: Step1, function: rtflows.steps.work, automate_next: true}
          - {name: Step2, function: rtflows.steps.work}
    """,
}


def _add_flows(project: Project) -> None:
    for name, text in TIMER_FLOWS.items():
        (project.root / "config" / name).write_text(textwrap.dedent(text).lstrip())


def _row(project: Project, workflow_id: str) -> tuple[str, int, dict[str, Any]]:
    status, step, state = query(
        project.db,
        "SELECT status, current_step, state FROM workflows WHERE id = %s",
        (workflow_id,),
    )[0]
    return str(status), int(step), state if isinstance(state, dict) else json.loads(state)


def _ran(project: Project, workflow_id: str, step: str) -> list[int]:
    return [
        pid
        for wid, name, pid, what in project.step_runs()
        if wid == workflow_id and name == step and what == "ran"
    ]


def _kill9(proc: Any) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_sleep_wakes_after_every_process_was_killed(project: Project) -> None:
    _add_flows(project)
    first = project.serve("w1", *FAST)
    workflow_id = project.start("Napper")
    wait_until(lambda: _row(project, workflow_id)[0] == "SLEEPING", 60, "the workflow to sleep")
    _kill9(first)
    status, step, _ = _row(project, workflow_id)
    assert (status, step) == ("SLEEPING", 2), "killed while it slept"
    assert _ran(project, workflow_id, "Step3") == []
    second = project.serve("w2", *FAST)
    wait_until(lambda: statuses(project.db)[workflow_id] == "COMPLETED", 60, "the wake-up")
    assert _ran(project, workflow_id, "Step1") == [first.pid]
    assert _ran(project, workflow_id, "Step3") == [second.pid]
    assert _row(project, workflow_id)[2]["trail"] == ["Step1", "Step3"]


def test_signals_sent_before_and_after_the_wait_survive_kill_9(
    project: Project, tmp_path: Path
) -> None:
    _add_flows(project)
    workflow_id = project.start("Gates")
    early = project.run("signal", workflow_id, "first", "--data", '{"a": 7}')
    assert early.returncode == 0, early.stderr
    assert "signal 'first' sent" in early.stdout
    first = project.serve("w1", *FAST)
    wait_until(lambda: _row(project, workflow_id)[:2] == ("WAITING_SIGNAL", 3), 60, "Gate2")
    _kill9(first)
    payload = tmp_path / "second.json"
    payload.write_text('{"approved_by": "ann"}')
    late = project.run("signal", workflow_id, "second", "--data", f"@{payload}")
    assert late.returncode == 0, late.stderr
    second = project.serve("w2", *FAST)
    wait_until(lambda: statuses(project.db)[workflow_id] == "COMPLETED", 60, "the workflow to end")
    _, _, state = _row(project, workflow_id)
    assert state["a"] == 7 and state["child"] == {"approved_by": "ann"}
    assert state["trail"] == ["Step1", "Step2", "Step3"]
    assert _ran(project, workflow_id, "Step3") == [second.pid]
    left = query(project.db, "SELECT COUNT(*) FROM ruvon_signals WHERE name = 'first'")
    assert left[0][0] == 0, "a consumed signal is removed when the next one of its name is read"
    ended = project.run("signal", workflow_id, "second")
    assert ended.returncode == 1 and "is COMPLETED" in ended.stderr
    unknown = project.run("signal", "no-such-workflow", "second")
    assert unknown.returncode == 4 and "no-such-workflow" in unknown.stderr


def test_max_active_runs_one_at_a_time_in_start_order_across_workers(project: Project) -> None:
    _add_flows(project)
    ids = [project.start("Limited") for _ in range(3)]
    assert {statuses(project.db)[i] for i in ids} == {"QUEUED"}
    workers = [project.serve(f"w{i}", "--concurrency", "3", *FAST) for i in range(2)]
    wait_until(
        lambda: {statuses(project.db)[i] for i in ids} == {"COMPLETED"}, 60, "all to complete"
    )
    for worker in workers:
        _kill9(worker)
    spans = []
    for workflow_id in ids:
        lines = [(name, what) for wid, name, _, what in project.step_runs() if wid == workflow_id]
        assert lines == [("Step1", "start"), ("Step1", "ran"), ("Step2", "start"), ("Step2", "ran")]
        spans.append(workflow_id)
    # One at a time: the log holds each workflow's four lines together, in start order.
    order = [wid for wid, _, _, _ in project.step_runs()]
    assert order == [wid for wid in ids for _ in range(4)]


def test_resume_refuses_a_sleeper_before_it_is_due_and_continues_it_after(
    project: Project,
) -> None:
    _add_flows(project)
    long_nap = (
        TIMER_FLOWS["napper.yaml"]
        .replace("Napper", "LongNapper")
        .replace("seconds: 2", "seconds: 3600")
    )
    (project.root / "config" / "long_napper.yaml").write_text(textwrap.dedent(long_nap).lstrip())
    ran = project.run("run", "LongNapper")
    assert ran.returncode == 3, ran.stderr  # stopped to wait
    workflow_id = next(iter(statuses(project.db)))
    assert _row(project, workflow_id)[:2] == ("SLEEPING", 2)
    early = project.run("resume", workflow_id)
    assert early.returncode == 1 and "sleeps until" in early.stderr
    assert "'Step3'" in early.stderr
    # Make it due: the due time lives in the engine record (and the wake_at column).
    if project.db.startswith("postgresql"):
        move = "engine = jsonb_set(engine, '{wake_at}', '0'::jsonb)"
    else:
        move = "engine = json_set(engine, '$.wake_at', 0)"
    query(project.db, f"UPDATE workflows SET {move}, wake_at = 0 WHERE id = %s", (workflow_id,))
    done = project.run("resume", workflow_id)
    assert done.returncode == 0, done.stderr
    assert statuses(project.db)[workflow_id] == "COMPLETED"
    assert _row(project, workflow_id)[2]["trail"] == ["Step1", "Step3"]
