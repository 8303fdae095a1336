"""State models and functions shared by the benchmarks (importable as bench_kit)."""

from __future__ import annotations

import json
import subprocess
import sys
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


PEER_DIR = Path(__file__).resolve().parent / ".peer"


def peer_python(requirement: str) -> Path | str:
    """The python of a venv under bench/.peer/ with ``requirement`` installed (built once).

    Peer libraries install import packages named like ours (``ruvon``), so they live in a venv of
    their own and run in a subprocess. Returns the interpreter, or a sentence saying why there is
    none (no network, no such version, ...).
    """
    venv = PEER_DIR / requirement.replace("==", "-")
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.is_file():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", requirement],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"could not install {requirement} into {venv}: {detail.strip()[-300:]}"
    marker.write_text(requirement, encoding="utf-8")
    return python


def run_peer(python: Path, script: str, *args: str) -> dict[str, Any] | str:
    """Run ``bench/<script>`` with the peer's python; its last output line is a JSON object."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            [str(python), str(here / script), *args],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"{script} failed under {python}: {detail.strip()[-300:]}"
    return result
