"""``ruvon list / show / cancel / retry / resume`` on workflows stored in SQLite."""

from __future__ import annotations

import re

import pytest

START_ONE_STEP = """
import asyncio

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider


async def main():
    store = SQLitePersistenceProvider(db_path="ruvon.db")
    await store.initialize()
    builder = WorkflowBuilder(config_dir="quick_config")
    workflow = await builder.create_workflow(
        "Quick", persistence_provider=store, execution_provider=SyncExecutor(),
        initial_data={"name": "Half"},
    )
    await workflow.next_step()  # Greet has no automate_next: the process "stops" after it
    print(workflow.id, workflow.status, workflow.current_step_name)
    await store.close()


asyncio.run(main())
"""


def start_active(ruvon) -> str:
    """An ACTIVE workflow that ran its first step only, as after a crash."""
    done = ruvon.python(START_ONE_STEP)
    assert done.returncode == 0, done.stderr
    workflow_id, status, step = done.stdout.splitlines()[-1].split()
    assert (status, step) == ("ACTIVE", "Fan")
    return workflow_id


def rows(output: str) -> dict[str, list[str]]:
    """The rows of the ``ruvon list`` table, by workflow id."""
    found = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if re.fullmatch(r"[0-9a-f-]{36}", cells[0]):
            found[cells[0]] = cells[1:]
    return found


def test_list_filters_by_status_and_type_and_limits(ruvon):
    quick_ids = [ruvon.run_quick("Quick", {"name": n}) for n in ("A", "B")]
    failed = ruvon("run", "Flaky", "--data", '{"name": "F"}', *ruvon.quick)
    assert failed.returncode == 1
    failed_id = ruvon.workflow_id(failed.stdout)

    everything = rows(ruvon("list").stdout)
    assert set(everything) == {*quick_ids, failed_id}
    assert everything[failed_id][:3] == ["Flaky", "FAILED", "Fan"]
    assert everything[quick_ids[0]][:3] == ["Quick", "COMPLETED", "-"]

    assert set(rows(ruvon("list", "--status", "failed").stdout)) == {failed_id}
    assert set(rows(ruvon("list", "--type", "Quick").stdout)) == set(quick_ids)
    assert len(rows(ruvon("list", "--limit", "1").stdout)) == 1
    assert rows(ruvon("list", "--status", "CANCELLED").stdout) == {}
    assert "no workflows found" in ruvon("list", "--type", "Nope").stdout


def test_show_prints_state_history_and_failures(ruvon):
    failed = ruvon("run", "Flaky", "--data", '{"name": "S"}', *ruvon.quick)
    workflow_id = ruvon.workflow_id(failed.stdout)
    shown = ruvon("show", workflow_id)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert re.search(r"^status +FAILED$", out, re.MULTILINE)
    assert re.search(r"^current step +Fan$", out, re.MULTILINE)
    assert ruvon.state(out)["greeting"] == "hi S"
    assert re.search(r"STEP_COMPLETED +Greet +\d+\.\d+s", out)
    assert "tasks of step Fan saved so far" in out
    assert re.search(r"^task_a +COMPLETED +\d+\.\d+s", out, re.MULTILINE)
    assert re.search(r"^flaky_task +FAILED +\d+\.\d+s +.*marker", out, re.MULTILINE)
    assert re.search(r"STEP_FAILED +Fan +\d+\.\d+s", out)
    assert "failures" in out
    assert re.search(r"^error: Fan: .*flaky_task.*marker", out, re.MULTILINE)


def test_retry_after_fixing_the_failure_completes(ruvon):
    failed = ruvon("run", "Flaky", "--data", '{"name": "R"}', *ruvon.quick)
    assert failed.returncode == 1
    workflow_id = ruvon.workflow_id(failed.stdout)

    again = ruvon("retry", workflow_id)
    assert again.returncode == 1  # not fixed yet
    assert "flaky_task" in again.stderr

    (ruvon.project / "fixed.marker").write_text("")
    fixed = ruvon("retry", workflow_id)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "continues at step Fan" in fixed.stdout
    assert "✓ task Fan › flaky_task" in fixed.stdout
    assert ruvon.state(fixed.stdout)["total"] == 21  # a=1 from task_a, b=20 from flaky_task
    shown = ruvon("show", workflow_id).stdout
    assert re.search(r"^status +COMPLETED$", shown, re.MULTILINE)
    assert re.search(r"^retried after: Fan: ", shown, re.MULTILINE)


def test_retry_of_a_completed_workflow_is_refused(ruvon):
    workflow_id = ruvon.run_quick("Quick", {"name": "C"})
    done = ruvon("retry", workflow_id)
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "only a FAILED workflow can be retried" in done.stderr


def test_resume_runs_an_active_workflow_to_the_end(ruvon):
    workflow_id = start_active(ruvon)
    assert rows(ruvon("list").stdout)[workflow_id][:3] == ["Quick", "ACTIVE", "Fan"]
    done = ruvon("resume", workflow_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "continues at step Fan" in done.stdout
    assert "hello from greet" not in done.stdout  # the finished step does not run again
    assert "✓ task Fan › task_a" in done.stdout
    assert ruvon.state(done.stdout)["total"] == 3

    again = ruvon("resume", workflow_id)
    assert again.returncode == 1
    assert "is COMPLETED; only an ACTIVE, WAITING_HUMAN, SLEEPING (when due)" in again.stderr


def test_cancel(ruvon):
    workflow_id = start_active(ruvon)
    done = ruvon("cancel", workflow_id)
    assert done.returncode == 0, done.stderr
    assert f"workflow {workflow_id} CANCELLED" in done.stdout
    assert rows(ruvon("list", "--status", "cancelled").stdout)[workflow_id][1] == "CANCELLED"

    twice = ruvon("cancel", workflow_id)
    assert twice.returncode == 1
    assert "already CANCELLED" in twice.stderr
    assert ruvon("resume", workflow_id).returncode == 1


@pytest.mark.parametrize("command", ["show", "resume", "retry", "cancel"])
def test_unknown_id_exits_4(ruvon, command):
    done = ruvon(command, "no-such-id")
    assert done.returncode == 4
    assert done.stderr.startswith("error: ")
    assert "no-such-id" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_a_database_is_one_error_line(ruvon):
    (ruvon.project / "junk.db").write_text("not a database")
    done = ruvon("list", "--db", "junk.db")
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert "junk.db" in done.stderr
    assert len(done.stderr.splitlines()) == 1
