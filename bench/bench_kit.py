"""State models and functions shared by the benchmarks (importable as bench_kit)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class Counter(BaseModel):
    n: int = 0


def step_increment(state: Counter, context: StepContext) -> dict[str, Any]:
    return {"n": state.n + 1}


def task_noop(state: Counter, context: StepContext) -> dict[str, Any]:
    return {}


def sleep_1_0(state: Counter, context: StepContext) -> dict[str, Any]:
    time.sleep(1.0)
    return {}


def sleep_1_5(state: Counter, context: StepContext) -> dict[str, Any]:
    time.sleep(1.5)
    return {}


def sleep_2_0(state: Counter, context: StepContext) -> dict[str, Any]:
    time.sleep(2.0)
    return {}


def chain_yaml(steps: int) -> str:
    lines = ['workflow_type: "Chain"', 'initial_state_model: "bench_kit.Counter"', "steps:"]
    for i in range(steps):
        lines += [f'  - name: "s{i}"', '    function: "bench_kit.step_increment"']
        lines += ["    automate_next: true"] if i < steps - 1 else []
    return "\n".join(lines) + "\n"


def fan_yaml(workflow_type: str, functions: list[str]) -> str:
    lines = [
        f'workflow_type: "{workflow_type}"',
        'initial_state_model: "bench_kit.Counter"',
        "steps:",
        '  - name: "fan"',
        '    type: "PARALLEL"',
        "    tasks:",
    ]
    for i, func in enumerate(functions):
        lines += [f'      - name: "t{i}"', f'        function_path: "bench_kit.{func}"']
    return "\n".join(lines) + "\n"


def config_dir(**files: str) -> Path:
    """Write definitions into a fresh temporary directory and return it."""
    directory = Path(tempfile.mkdtemp(prefix="ruvon-bench-"))
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory
