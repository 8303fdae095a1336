"""The 10-step no-op chain of bench_core, written for ruvon-sdk 0.1.5 (the peer baseline).

Runs ONLY in the peer's own virtual environment (its import package is also named ``ruvon``);
``bench_core.py`` builds that environment under ``bench/.peer/`` and runs this file in a subprocess.
Prints one JSON line: ``{"us_per_step": ..., "version": ...}``.

Adapted to the SDK's real API: a registry dict is required, ``create_workflow`` takes every provider
explicitly, and the providers are ``InMemoryPersistence``, ``SyncExecutor``, ``NoopWorkflowObserver``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

WORKFLOWS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10


class Counter(BaseModel):
    n: int = 0


def step_increment(state: Counter, context: Any, **kwargs: Any) -> dict[str, Any]:
    return {"n": state.n + 1}


def _chain_yaml(steps: int) -> str:
    lines = [
        'workflow_type: "Chain"',
        'initial_state_model_path: "peer_sdk_chain.Counter"',
        "steps:",
    ]
    for i in range(steps):
        lines += [f'  - name: "s{i}"', '    type: "STANDARD"']
        lines += ['    function: "peer_sdk_chain.step_increment"']
        lines += ["    automate_next: true"] if i < steps - 1 else []
    return "\n".join(lines) + "\n"


async def _run(builder: Any, providers: dict[str, Any]) -> float:
    started = time.perf_counter()
    for _ in range(WORKFLOWS):
        workflow = await builder.create_workflow("Chain", initial_data={}, **providers)
        while workflow.status == "ACTIVE":
            await workflow.next_step(user_input={})
        assert workflow.state.n == STEPS, (workflow.status, workflow.state)
    return (time.perf_counter() - started) / (WORKFLOWS * STEPS) * 1e6


async def main() -> None:
    logging.disable(logging.WARNING)  # the SDK logs every step at INFO/WARNING: not the workload
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.execution.sync import SyncExecutor
    from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
    from ruvon.implementations.observability.noop import NoopWorkflowObserver
    from ruvon.implementations.persistence.memory import InMemoryPersistence
    from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

    directory = Path(tempfile.mkdtemp(prefix="ruvon-peer-"))
    (directory / "chain.yaml").write_text(_chain_yaml(STEPS), encoding="utf-8")
    registry = {
        "Chain": {
            "config_file": "chain.yaml",
            "initial_state_model_path": "peer_sdk_chain.Counter",
        }
    }
    builder = WorkflowBuilder(
        registry, SimpleExpressionEvaluator, Jinja2TemplateEngine, config_dir=str(directory)
    )
    persistence = InMemoryPersistence()
    await persistence.initialize()
    executor = SyncExecutor()
    providers = {
        "persistence_provider": persistence,
        "execution_provider": executor,
        "workflow_builder": builder,
        "expression_evaluator_cls": SimpleExpressionEvaluator,
        "template_engine_cls": Jinja2TemplateEngine,
        "workflow_observer": NoopWorkflowObserver(),
    }
    await _run(builder, providers)  # warm-up: imports, caches
    best = min([await _run(builder, providers) for _ in range(3)])
    print(json.dumps({"us_per_step": best, "version": version("ruvon-sdk")}))


if __name__ == "__main__":
    asyncio.run(main())
