"""Program 2: pause inside a handler, save, then load and resume in another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "routilux_program_orders.py"


def run(mode: str, directory: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1] / "src")]))
    result = subprocess.run(
        [sys.executable, str(PROGRAM), mode, str(directory)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_orders_pause_in_one_process_and_finish_in_another(tmp_path: Path) -> None:
    run("start", tmp_path)
    saved = json.loads((tmp_path / "job.json").read_text(encoding="utf-8"))
    assert saved["status"] == "paused"
    assert saved["pause_points"][0]["reason"] == "paused after o2"
    booked_before = [entry[0] for entry in saved["shared_data"].get("booked", [])]
    pending = [(t["routine_id"], t["data"].get("order_id")) for t in saved["pending_tasks"]]
    # Everything not yet booked is held back, each exactly once.
    assert sorted(booked_before + [oid for _, oid in pending if _ == "book"]
                  + [oid for r, oid in pending if r == "pricer"]) == ["o1", "o2", "o3", "o4"]  # fmt: skip
    run("resume", tmp_path)
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "completed"
    assert sorted(result["booked"]) == [["o1", 12.0], ["o2", 24.0], ["o3", 36.0], ["o4", 48.0]]
