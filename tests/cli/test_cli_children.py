"""Child workflows from the CLI: `run` waits for fire-and-forget children, `resume` moves a parent on.

A PENDING_SUB_WORKFLOW parent whose child has ended goes on with `ruvon resume`; while the child
still waits, the parent keeps waiting (exit 3). `ruvon run` waits for the FIRE_AND_FORGET children
it started in its own process and prints their ids, so none is left half-run when it exits.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest
from cli_extra_kit import add_extra

SLOW_CHILD_STEPS = """
import time


def nap(state, context, **kwargs):
    time.sleep(0.3)
    return {"total": (state.total or 0) + 1}
"""

YAML = {
    "spawner.yaml": """
        workflow_type: Spawner
        initial_state_model: quick.models.QuickState
        steps:
          - name: Greet
            function: quick.steps.greet
            automate_next: true
          - name: Spawn
            type: SUB_WORKFLOW
            workflow_type: Napper
            mode: FIRE_AND_FORGET
            input_mapping:
              name: "state.name"
    """,
    "napper.yaml": """
        workflow_type: Napper
        initial_state_model: quick.models.QuickState
        steps:
          - name: Nap1
            function: extra.naps.nap
            automate_next: true
          - name: Nap2
            function: extra.naps.nap
    """,
    "parent.yaml": """
        workflow_type: Parent
        initial_state_model: quick.models.QuickState
        steps:
          - name: Ask
            type: SUB_WORKFLOW
            workflow_type: Decide
            input_mapping:
              name: "state.name"
            automate_next: true
          - name: Done
            function: quick.steps.greet
    """,
}


@pytest.fixture
def cli(ruvon):
    add_extra(ruvon.project)
    (ruvon.project / "extra" / "naps.py").write_text(SLOW_CHILD_STEPS.lstrip())
    for name, text in YAML.items():
        (ruvon.project / "quick_config" / name).write_text(textwrap.dedent(text).lstrip())
    return ruvon


def _status(cli, workflow_id: str) -> str:
    with sqlite3.connect(cli.project / "ruvon.db") as conn:
        [(status,)] = conn.execute("SELECT status FROM workflows WHERE id = ?", (workflow_id,))
    return str(status)


def test_run_waits_for_its_fire_and_forget_children_and_prints_their_ids(cli):
    done = cli("run", "Spawner", "--data", '{"name": "Ada"}', *cli.quick)
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [text for text in done.stdout.splitlines() if "started child workflow" in text]
    child = line.split("started child workflow ", 1)[1].split()[0]
    assert _status(cli, child) == "COMPLETED", "the child ran to its end before run exited"
    shown = cli("show", child, "--json")
    assert json.loads(shown.stdout)["state"]["total"] == 2

    as_json = cli("run", "Spawner", "--data", '{"name": "Bo"}', "--json", *cli.quick)
    assert as_json.returncode == 0, as_json.stderr
    [other] = json.loads(as_json.stdout)["children"]
    assert _status(cli, other) == "COMPLETED"


def test_resume_moves_a_pending_sub_workflow_parent_on_once_its_child_ended(cli):
    started = cli("run", "Parent", "--data", '{"name": "Cy"}', *cli.quick)
    assert started.returncode == 3, started.stdout + started.stderr
    parent = cli.workflow_id(started.stdout)
    assert _status(cli, parent) == "PENDING_SUB_WORKFLOW"
    with sqlite3.connect(cli.project / "ruvon.db") as conn:
        [(child,)] = conn.execute("SELECT id FROM workflows WHERE parent_id = ?", (parent,))

    waiting = cli("resume", parent, *cli.quick)  # the child still waits: so does the parent
    assert waiting.returncode == 3, waiting.stdout + waiting.stderr
    assert _status(cli, parent) == "PENDING_SUB_WORKFLOW"

    answered = cli("resume", child, "--input", '{"approved": true}', *cli.quick)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    finished = cli("resume", parent, *cli.quick)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert _status(cli, parent) == "COMPLETED"
