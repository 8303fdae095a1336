"""RUVON_OTEL_FILE / RUVON_METRICS for the CLI: a run and its resume, two processes, one trace."""

from __future__ import annotations

import json


def test_run_and_resume_in_two_processes_continue_one_trace(ruvon, tmp_path):
    spans = tmp_path / "spans.jsonl"
    done = ruvon(
        "run", "Approval", "--data", '{"name": "Di"}', *ruvon.quick, RUVON_OTEL_FILE=str(spans)
    )
    assert done.returncode == 3, done.stdout + done.stderr
    workflow_id = ruvon.workflow_id(done.stdout)
    resumed = ruvon(
        "resume",
        workflow_id,
        "--input",
        '{"approved": true}',
        *ruvon.quick,
        RUVON_OTEL_FILE=str(spans),
        RUVON_METRICS="1",
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = [json.loads(line) for line in spans.read_text(encoding="utf-8").splitlines()]
    names = [span["name"] for span in lines]
    assert names == [
        "workflow Approval",
        "step Greet",
        "step Approve",  # pauses (finished): the first process ends here, waiting for input
        "step Sum",  # the second process takes the input
        "workflow Approval completed",
    ]
    assert len({span["trace_id"] for span in lines}) == 1
    root = lines[0]
    assert root["parent_id"] is None and root["attributes"]["ruvon.workflow.id"] == workflow_id
    assert all(span["parent_id"] == root["span_id"] for span in lines[1:])
    assert [s["attributes"]["ruvon.step.status"] for s in lines if s["name"] == "step Approve"] == [
        "COMPLETED"
    ]


def test_without_the_switches_nothing_is_traced(ruvon):
    ruvon.run_quick("Quick", {"name": "Ada"})
    stored = ruvon.python(
        """
        import sqlite3, json
        rows = sqlite3.connect("ruvon.db").execute("SELECT engine FROM workflows").fetchall()
        print(json.dumps([json.loads(r[0]) for r in rows]))
        """
    )
    assert stored.returncode == 0, stored.stderr
    engines = json.loads(stored.stdout)
    assert engines and all("trace" not in engine for engine in engines)
