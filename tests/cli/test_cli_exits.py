"""Exit codes and messages: sys.exit in a step, unknown --data keys, --input checks, -p."""

from __future__ import annotations

import json
import re

import pytest
from cli_extra_kit import add_extra


@pytest.fixture
def cli(ruvon):
    add_extra(ruvon.project)
    return ruvon


def test_sys_exit_in_a_step_fails_the_workflow_with_exit_1_and_says_so(cli):
    done = cli("run", "Bail", "--data", '{"name": "A"}', "--executor", "sync", *cli.quick)
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stderr.splitlines()[0]
    # The engine turns sys.exit() in a step into the step's failure: the workflow is FAILED with
    # the error recorded, the process lives on, and retry works once the code is fixed.
    assert first.startswith("error: workflow ") and " failed: " in first
    assert "step 'Bail'" in first and "sys.exit(3)" in first
    assert "instead of exiting" in first
    assert "ruvon retry" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_data_keys_are_dropped_with_one_warning_under_extra_ignore(cli):
    data = {"name": "A", "zz": 1, "yy": 2}
    done = cli("run", "Quick", "--data", json.dumps(data), *cli.quick)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "'yy', 'zz'" in warnings[0] and "dropped" in warnings[0]
    assert "zz" not in cli.state(done.stdout)


def test_unknown_data_keys_are_a_usage_error_under_extra_forbid(cli):
    done = cli("run", "StrictData", "--data", '{"name": "A", "colour": "red"}', *cli.quick)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --data has keys the state model extra.models.Strict")
    assert "'colour'" in done.stderr
    assert not (cli.project / "ruvon.db").exists()


def test_unknown_data_keys_are_stored_under_extra_allow(cli):
    done = cli("run", "OpenData", "--data", '{"name": "A", "colour": "red"}', *cli.quick)
    assert done.returncode == 0, done.stderr
    assert cli.state(done.stdout)["colour"] == "red"
    assert "warning" not in done.stderr


def test_waiting_human_names_the_input_fields_and_bad_input_is_a_usage_error(cli):
    done = cli("run", "Decide", "--data", '{"name": "A"}', *cli.quick)
    assert done.returncode == 3
    workflow_id = cli.workflow_id(done.stdout)
    assert "approved (bool, required)" in done.stdout
    assert f"ruvon resume {workflow_id} --input '{{\"approved\": true}}'" in done.stdout

    waiting = cli("resume", workflow_id, *cli.quick)
    assert waiting.returncode == 3
    assert "approved (bool, required), note (str)" in waiting.stdout

    bad = cli("resume", workflow_id, "--input", '{"approved": "maybe"}', *cli.quick)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --input does not fit the input of step 'Review'")
    assert "'approved'" in bad.stderr and "next_step" not in bad.stderr

    good = cli("resume", workflow_id, "--input", '{"approved": true}', *cli.quick)
    assert good.returncode == 0, good.stdout + good.stderr


def test_parameters_from_the_command_line(cli):
    (cli.project / "quick_config" / "param.yaml").write_text(
        "workflow_type: Param\n"
        "initial_state_model: quick.models.QuickState\n"
        "parameters:\n  next: Small\n"
        "steps:\n"
        "  - name: Sum\n    function: quick.steps.add\n"
        "    routes:\n      - {default: true, target: '{{ parameters.next }}'}\n"
        "  - name: Small\n    function: quick.steps.small\n"
        "    routes:\n      - {default: true, target: Done}\n"
        "  - name: Big\n    function: quick.steps.big\n"
        "    routes:\n      - {default: true, target: Done}\n"
        "  - name: Done\n    function: quick.steps.greet\n"
    )
    default = cli("run", "Param", "--data", '{"name": "A"}', *cli.quick)
    assert cli.state(default.stdout)["size"] == "small"
    chosen = cli("run", "Param", "-d", '{"name": "A"}', "-p", "next=Big", *cli.quick)
    assert chosen.returncode == 0, chosen.stderr
    assert cli.state(chosen.stdout)["size"] == "big"
    graph = cli("graph", "Param", "-p", "next=Big", *cli.quick)
    assert re.search(r"step0 -->\|\"default\"\| step2", graph.stdout), graph.stdout
    bad = cli("run", "Param", "-p", "next", *cli.quick)
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
