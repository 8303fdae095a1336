"""The concurrent-flow demo runs as written and prints its key results."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "concurrent_flow" / "demo.py"


def test_demo_runs_and_reports_each_section() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Aggregated 3 results from api, cache, database" in out
    assert "Fetchers ran in parallel: True" in out
    assert re.search(r"Sequential execution: \d+\.\d{3}s", out)
    assert re.search(r"Concurrent execution: \d+\.\d{3}s", out)
    assert re.search(r"Speedup: \d+\.\d{2}x", out)
    assert (
        "fetch_database: error_continued (ConnectionError: source database is unreachable)" in out
    )
    assert "Other fetchers still delivered: api, cache" in out
    assert "Execution strategy preserved: concurrent, max_workers=5" in out
    assert "Deserialized flow: completed, 3 results" in out
    assert "Switched to concurrent (max_workers=3): completed" in out
    assert out.count("Job status: completed") == 2
    assert out.rstrip().endswith("All demos completed.")
