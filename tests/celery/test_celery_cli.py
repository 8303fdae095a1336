"""`ruvon worker` starts a worker and `ruvon run --executor celery` uses it, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery_support import CORE, HERE, REDIS_URL, redis_or_skip, start_worker, stop_worker

pytestmark = [pytest.mark.celery, pytest.mark.redis]

WORKFLOW = """\
workflow_type: "Fan"
initial_state_model: "core_kit.State"
steps:
  - name: "Checks"
    type: "PARALLEL"
    tasks:
      - name: "a"
        function_path: "core_kit.task_a"
      - name: "b"
        function_path: "core_kit.task_b"
    merge_strategy: "DEEP"
"""


def test_cli_worker_and_run_on_celery(tmp_path: Path) -> None:
    redis_or_skip()
    worker = start_worker(
        ["core_kit"],
        broker=REDIS_URL,
        log=tmp_path / "worker.log",
        pythonpath=[CORE, HERE],
        command=["ruvon.cli.main", "worker"],
    )
    try:
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / "fan.yaml").write_text(WORKFLOW, encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(CORE), os.environ.get("PYTHONPATH", "")]),
            "RUVON_CELERY_BROKER_URL": worker.broker,
            "RUVON_CELERY_RESULT_BACKEND": worker.broker,
            "RUVON_CELERY_QUEUE": worker.queue,
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruvon.cli.main",
                "run",
                "Fan",
                "--executor",
                "celery",
                "--data",
                json.dumps({"n": 1}),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "COMPLETED" in proc.stdout
        assert '"sku": "A"' in proc.stdout and '"amount": 100' in proc.stdout
    finally:
        stop_worker(worker)


def test_cli_worker_beside_config_allows_the_modules_the_definitions_name(tmp_path: Path) -> None:
    redis_or_skip()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "fan.yaml").write_text(WORKFLOW, encoding="utf-8")
    worker = start_worker(
        [],  # no --allow: taken from config/
        broker=REDIS_URL,
        log=tmp_path / "worker.log",
        pythonpath=[CORE, HERE],
        cwd=tmp_path,
        command=["ruvon.cli.main", "worker"],
    )
    try:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(CORE), os.environ.get("PYTHONPATH", "")]),
            "RUVON_CELERY_BROKER_URL": worker.broker,
            "RUVON_CELERY_RESULT_BACKEND": worker.broker,
            "RUVON_CELERY_QUEUE": worker.queue,
        }
        argv = [sys.executable, "-m", "ruvon.cli.main", "run", "Fan", "--executor", "celery"]
        proc = subprocess.run(
            [*argv, "--data", json.dumps({"n": 1})],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr + worker.log_text()
        assert "worker allows the modules the definitions name: core_kit" in worker.log_text()
    finally:
        stop_worker(worker)
