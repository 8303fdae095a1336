"""``--json`` on run, list, show and validate; ``validate --strict`` and ``--graph``."""

from __future__ import annotations

import json

from cli_extra_kit import LEGACY_YAML, add_extra

SUMMARY = {
    "id",
    "workflow_type",
    "workflow_version",
    "status",
    "current_step",
    "parent_id",
    "created_at",
    "updated_at",
}


def test_run_json_is_one_document_on_stdout_with_progress_on_stderr(ruvon):
    done = ruvon("run", "Quick", "--data", '{"name": "Ada"}', "--json", *ruvon.quick)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # nothing else on stdout, not even the steps' print()
    assert set(document) == {
        "id",
        "workflow_type",
        "status",
        "current_step",
        "elapsed_seconds",
        "exit_code",
        "error",
        "state",
    }
    assert document["status"] == "COMPLETED" and document["exit_code"] == 0
    assert document["state"]["total"] == 3
    assert "hello from greet, Ada" in done.stderr
    assert "✓ step Greet" in done.stderr


def test_failed_run_json_carries_the_error_and_exit_1(ruvon):
    done = ruvon("run", "Flaky", "--data", '{"name": "Ada"}', "--json", *ruvon.quick)
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["status"] == "FAILED" and document["exit_code"] == 1
    assert "flaky_task" in document["error"]
    assert document["current_step"] == "Fan"


def test_list_and_show_json(ruvon):
    first = ruvon.run_quick("Quick", {"name": "A"})
    failed = ruvon("run", "Flaky", "--data", '{"name": "B"}', *ruvon.quick)
    second = ruvon.workflow_id(failed.stdout)

    listed = json.loads(ruvon("list", "--json").stdout)
    assert [item["id"] for item in listed] == [second, first]
    assert all(set(item) == SUMMARY for item in listed)
    assert listed[0]["status"] == "FAILED" and listed[0]["current_step"] == "Fan"
    assert listed[0]["created_at"].endswith("+00:00")
    assert json.loads(ruvon("list", "--json", "--status", "completed").stdout)[0]["id"] == first

    shown = json.loads(ruvon("show", second, "--json").stdout)
    assert SUMMARY < set(shown)
    assert shown["state"]["name"] == "B"
    assert shown["error"]["step"] == "Fan"
    events = [(entry["event"], entry["step"], entry["task"]) for entry in shown["history"]]
    assert ("STEP_COMPLETED", "Greet", None) in events
    assert ("TASK_FAILED", "Fan", "flaky_task") in events
    assert {entry["level"] for entry in shown["history"]} >= {"INFO", "ERROR"}


def test_list_json_of_an_empty_store_is_an_empty_array(ruvon):
    ruvon.run_quick("Quick", {"name": "A"})
    done = ruvon("list", "--json", "--type", "Nothing")
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_validate_json_graph_and_strict(ruvon):
    add_extra(ruvon.project)
    config = ruvon.project / "quick_config"
    (config / "legacy.yaml").write_text(LEGACY_YAML.lstrip())
    (config / "broken.yaml").write_text("workflow_type: Broken\nsteps: []\n")

    done = ruvon("validate", str(config / "legacy.yaml"), str(config / "broken.yaml"), "--json")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["ok"] is False
    legacy, broken = document["files"]
    assert legacy["ok"] is True and legacy["workflow_type"] == "Legacy" and legacy["steps"] == 1
    assert legacy["warnings"] == [
        f"{config / 'legacy.yaml'}: extra.legacy is deprecated, use quick.steps"
    ]
    assert broken["ok"] is False and broken["problems"] and broken["workflow_type"] is None

    plain = ruvon("validate", "quick_config/legacy.yaml", "--graph")
    assert plain.returncode == 0, plain.stderr
    assert "flowchart TD" in plain.stdout and 'step0["Old"]' in plain.stdout
    assert plain.stderr.startswith("warning: quick_config/legacy.yaml: extra.legacy is deprecated")

    strict = ruvon("validate", "quick_config/legacy.yaml", "--strict")
    assert strict.returncode == 1
    assert "error: quick_config/legacy.yaml: extra.legacy is deprecated" in strict.stderr
    assert "--strict makes it an error" in strict.stderr
