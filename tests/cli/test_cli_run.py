"""``ruvon run``: progress, outcome, exit codes, input errors; one run of the real tutorial."""

from __future__ import annotations

import json
import re

import pytest


def test_run_completes_with_progress_and_state(ruvon):
    done = ruvon("run", "Quick", "--data", '{"name": "Ada"}', *ruvon.quick)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "hello from greet, Ada" in out  # the functions' own print() output
    assert "task a runs for Ada" in out
    assert "✓ step Greet" in out
    assert "✓ task Fan › task_a" in out
    assert "✓ task Fan › task_b" in out
    assert "✓ step Sum" in out
    assert re.search(r"^status +COMPLETED$", out, re.MULTILINE)
    state = ruvon.state(out)
    assert state == {**state, "name": "Ada", "a": 1, "b": 2, "total": 3}
    assert (ruvon.project / "ruvon.db").is_file()
    assert done.stderr == ""


def test_run_with_sync_executor_and_data_file(ruvon):
    (ruvon.project / "in.json").write_text('{"name": "Bo"}')
    done = ruvon("run", "Quick", "--data", "@in.json", "--executor", "sync", *ruvon.quick)
    assert done.returncode == 0, done.stderr
    assert ruvon.state(done.stdout)["total"] == 3


def test_run_failing_exits_1_and_names_the_failed_task(ruvon):
    done = ruvon("run", "Flaky", "--data", '{"name": "Cy"}', *ruvon.quick)
    assert done.returncode == 1
    assert "✗ task Fan › flaky_task" in done.stdout
    assert "✗ step Fan" in done.stdout
    assert re.search(r"^status +FAILED$", done.stdout, re.MULTILINE)
    assert re.search(r"^at step +Fan$", done.stdout, re.MULTILINE)
    first = done.stderr.splitlines()[0]
    assert first.startswith("error: workflow ")
    assert "flaky_task" in first
    assert "[bold]marker[/bold]" in first  # user text is never read as rich markup
    assert "ruvon retry" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_that_waits_exits_3_and_resume_with_input_completes(ruvon):
    done = ruvon("run", "Approval", "--data", '{"name": "Di"}', *ruvon.quick)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "WAITING_HUMAN" in done.stdout
    workflow_id = ruvon.workflow_id(done.stdout)
    assert f"ruvon resume {workflow_id}" in done.stdout
    resumed = ruvon("resume", workflow_id, "--input", '{"approved": true}', *ruvon.quick)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert ruvon.state(resumed.stdout)["approved"] is True


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"name": "Ada",}', "the --data value is not valid JSON: Expecting property name "),
        ("[1, 2]", "must be a JSON object of state fields"),
        ("@nope.json", "--data: cannot read nope.json"),
    ],
)
def test_bad_data_is_a_usage_error(ruvon, data, expected):
    done = ruvon("run", "Quick", "--data", data, *ruvon.quick)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert expected in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (ruvon.project / "ruvon.db").exists()


def test_bad_json_in_data_file_names_file_line_and_column(ruvon):
    (ruvon.project / "bad.json").write_text('{\n  "name": "Ada"\n  "x": 1\n}\n')
    done = ruvon("run", "Quick", "--data", "@bad.json", *ruvon.quick)
    assert done.returncode == 2
    assert "the file bad.json (given as --data @bad.json) is not valid JSON" in done.stderr
    assert "line 3, column 3" in done.stderr


def test_data_that_does_not_fit_the_state_model(ruvon):
    done = ruvon("run", "Quick", "--data", '{"nme": "Ada"}', *ruvon.quick)
    assert done.returncode == 1
    assert "error: initial_data for workflow type 'Quick'" in done.stderr
    assert "'name'" in done.stderr


def test_data_with_a_key_the_state_model_ignores_warns_naming_it(ruvon):
    done = ruvon("run", "Quick", "--data", '{"name": "Ada", "colour": "red"}', *ruvon.quick)
    assert done.returncode == 0, done.stderr
    assert "'colour'" in done.stderr and "dropped" in done.stderr
    assert ruvon.state(done.stdout)["name"] == "Ada"


def test_unknown_workflow_type_exits_4(ruvon):
    done = ruvon("run", "Nope", *ruvon.quick)
    assert done.returncode == 4
    assert "error: Unknown workflow type 'Nope'" in done.stderr
    assert "'Quick'" in done.stderr


def test_db_from_environment(ruvon):
    done = ruvon("run", "Quick", "--data", '{"name": "E"}', *ruvon.quick, RUVON_DB="other.db")
    assert done.returncode == 0, done.stderr
    assert (ruvon.project / "other.db").is_file()
    assert not (ruvon.project / "ruvon.db").exists()


def test_tutorial_runs_and_shows_shipping_cost(ruvon):
    """The seed tutorial's project, unchanged: the run as its reader would type it."""
    done = ruvon("run", "OrderProcessing", "--data", "@order.json", PYTHONHASHSEED="100")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "📦 Checking inventory for order ORD-12345" in done.stdout
    assert "✓ task Parallel_Validation › fraud_check" in done.stdout
    workflow_id = ruvon.workflow_id(done.stdout)
    shown = ruvon("show", workflow_id, PYTHONHASHSEED="100")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^status +COMPLETED$", shown.stdout, re.MULTILINE)
    state = ruvon.state(shown.stdout)
    assert state["shipping_cost"] == 9.0
    assert state["ready_to_ship"] is True
    assert json.loads(json.dumps(state))["order_id"] == "ORD-12345"
