"""The tutorial (examples/parallel_orders) runs unchanged on CeleryExecutor, as its Step 6 says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.celery, pytest.mark.redis, pytest.mark.slow]


def test_tutorial_runs_on_celery_workers(tutorial: tuple[Path, Any]) -> None:
    directory, worker = tutorial
    env = {
        **os.environ,
        "PYTHONHASHSEED": "100",
        "PYTHONIOENCODING": "utf-8",
        "RUVON_CELERY_QUEUE": worker.queue,
    }
    for name in ("RUVON_CONFIG_DIR", "RUVON_CELERY_BROKER_URL", "RUVON_CELERY_RESULT_BACKEND"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Shipping Cost: $9.00" in proc.stdout
    assert "Fraud Check: ✓ (score: 0.25)" in proc.stdout
    assert "Ready to Ship: Yes" in proc.stdout
    # The tasks printed on the worker, not in the caller: they ran there.
    assert "Checking inventory" not in proc.stdout
    assert "Checking inventory" in worker.log_text()
