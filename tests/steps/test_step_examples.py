"""Every examples/steps/<type>/main.py runs from its folder and prints what it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "steps"

EXPECTED: dict[str, list[str]] = {
    "decision": [
        "amount 20: lane=express status=COMPLETED",
        "amount 400: lane=standard status=COMPLETED",
        "amount 5000: lane=manual review status=COMPLETED",
    ],
    "human_in_loop": [
        "status: WAITING_HUMAN at step Approve",
        "reloaded: WAITING_HUMAN",
        "rejected input: The input for step 'Approve' does not fit",
        "still: WAITING_HUMAN",
        "approved by dana; paid=True; status=COMPLETED",
    ],
    "loop": [
        "line 0: 30.0 (context.loop_item=30.0)",
        "line 2: 24.5 (context.loop_item=24.5)",
        "total 100.0, paid 120.0 in 3 instalments",
        "status: COMPLETED",
    ],
    "fan_out": [
        "A1: {'sku': 'A1', 'price': 3.0}",
        "X9: None",
        "CCC333: {'sku': 'CCC333', 'price': 9.0}",
        "failed: ['Price[2]']",
        "status: COMPLETED",
    ],
    "saga": [
        "compensating: cancel hotel\n  compensating: cancel flight",
        "status: FAILED_ROLLED_BACK; still booked: []",
        "log: STEP_FAILED Car\nlog: COMPENSATED Hotel\nlog: COMPENSATED Flight",
    ],
    "sub_workflow": [
        "parent: PENDING_SUB_WORKFLOW; child: WAITING_HUMAN",
        "child: COMPLETED",
        "parent: COMPLETED; check: {'order_id': 'A-7', 'score': 42, 'cleared_by': 'eve'}",
        "audit child: COMPLETED",
    ],
    "async": ["after dispatch: PENDING_ASYNC", "rows=1234 sent=True status=COMPLETED"],
    "retry": ["attempt 1\n  attempt 2\n  attempt 3", "response=ok status=COMPLETED"],
    "cron_schedule": [
        "signup: COMPLETED; schedule weekly_report_u42 on '0 9 * * MON'",
        "first run: Monday 09:00 UTC",
        "report for u42: 3 lines, COMPLETED",
    ],
    "parameters": [
        "parameters={}: carrier=parcel",
        "parameters={'heavy_kg': 5}: carrier=freight",
        "Ship from Berlin",
    ],
}


def test_every_example_folder_is_checked() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir() if (p / "main.py").is_file()) == sorted(
        EXPECTED
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_what_happens(name: str) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
    for variable in ("RUVON_CONFIG_DIR", "WAREHOUSE"):
        env.pop(variable, None)
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=EXAMPLES / name,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for expected in EXPECTED[name]:
        assert expected in done.stdout, f"{expected!r} not in:\n{done.stdout}"
