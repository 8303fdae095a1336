"""The tutorial example runs as written: thread pool, SyncExecutor, and the verbatim `any` model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "parallel_orders"


def run_example(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": "100", "PYTHONIOENCODING": "utf-8"}
    env.pop("RUVON_CONFIG_DIR", None)
    return subprocess.run(
        [sys.executable, "main.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def copy_example(tmp_path: Path) -> Path:
    target = tmp_path / "parallel_orders"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def execution_time(stdout: str) -> float:
    line = next(line for line in stdout.splitlines() if "Execution Time:" in line)
    return float(line.split(":")[1].split()[0])


@pytest.mark.slow
def test_tutorial_prints_the_documented_result() -> None:
    proc = run_example(EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in [
        "Inventory: ✓ (in_stock)",
        "Payment: ✓ (approved)",
        "Fraud Check: ✓ (score: 0.25)",
        "Overall: PASS",
        "Ready to Ship: Yes",
        "Shipping Cost: $9.00",
        "Estimated Delivery: 3-5 business days",
        "WORKFLOW COMPLETED",
    ]:
        assert expected in out
    # Structure, not a stopwatch: the three tasks' start lines all print before any task's
    # results, so they ran at once (the slowest is 2.0 s; sequential is 4.5 s).
    # (Concurrent print() calls may share a line, so look at character positions.)
    starts = [out.index(mark) for mark in ("📦 Checking", "💳 Verifying", "🔍 Running")]
    assert max(starts) < out.index(" units")
    # The tutorial's Validate_Order returns a 'step' key its state model lacks: one warning names it
    # (DESIGN: unknown keys under extra='ignore' are dropped with one warning); nothing else.
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "'Validate_Order' returned the key(s) 'step'" in lines[0]


@pytest.mark.slow
def test_tutorial_with_sync_executor_runs_tasks_one_after_another(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    main = directory / "main.py"
    text = main.read_text(encoding="utf-8")
    text = text.replace(
        "from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider",
        "from ruvon.implementations.execution.sync import SyncExecutor",
    ).replace("ThreadPoolExecutionProvider(max_workers=5)", "SyncExecutor()")
    main.write_text(text, encoding="utf-8")
    proc = run_example(directory)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    order = [line[:1] for line in lines if line.startswith(("📦", "💳", "🔍", "   Status"))]
    assert order == ["📦", " ", "💳", " ", "🔍", " "], "each task finishes before the next starts"
    assert "Shipping Cost: $9.00" in proc.stdout
    assert execution_time(proc.stdout) >= 4.5  # the three sleeps alone add up to 4.5 s


def test_verbatim_tutorial_model_gives_a_short_typing_any_error(tmp_path: Path) -> None:
    directory = copy_example(tmp_path)
    models = directory / "order_processor" / "models.py"
    text = models.read_text(encoding="utf-8")
    text = text.replace("from typing import Any, Optional", "from typing import Optional")
    models.write_text(text.replace("Dict[str, Any]", "Dict[str, any]"), encoding="utf-8")
    proc = run_example(directory)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[0]
    assert error.startswith("ruvon: DefinitionError: order_processor/models.py, line 11")
    assert "'items'" in error and "typing.Any" in error and "List[Dict[str, Any]]" in error
