"""State models, step functions and measuring helpers for the adversarial suite.

``measure`` runs a call on this thread and reports its CPU time (``time.thread_time``, which other
processes on a shared machine do not inflate) and the peak memory it allocated (tracemalloc), so a
test can show a bomb was refused before it was built.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext

#: A refusal must come well within a second of CPU time (the sandbox's wall bound is 0.5 s).
CPU_BOUND = 1.0
#: And without allocating anything near the size of the bomb.
MEMORY_BOUND = 32 * 1024 * 1024


class Order(BaseModel):
    """A state with the field types an attacker would reach through."""

    amount: int = 5
    tier: str = "gold"
    name: str = "Bob"
    items: list[int] = [1, 2, 3]
    big: list[int] = []
    text: str = ""
    path: list[str] = []


def visit(state: Order, context: StepContext) -> dict[str, Any]:
    """Record the step's name in ``path``."""
    return {"path": [*state.path, context.step_name]}


@dataclass(slots=True)
class Measured:
    """What a call did: its result or error, CPU seconds and peak bytes allocated."""

    result: Any
    error: BaseException | None
    cpu_seconds: float
    peak_bytes: int


def measure(call: Callable[[], Any]) -> Measured:
    """Run ``call``, catching any exception, with its CPU time and peak allocation."""
    tracemalloc.start()
    start = time.thread_time()
    result: Any = None
    error: BaseException | None = None
    try:
        result = call()
    except Exception as exc:
        error = exc
    cpu = time.thread_time() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Measured(result, error, cpu, peak)


def gadget(canary: Path) -> str:
    """The pydantic gadget from the issue: ``from_annotation`` evals a string annotation.

    Its payload creates ``canary``, so a test can tell whether anything ran.
    """
    payload = f"__import__('pathlib').Path({str(canary)!r}).touch()"
    return (
        f"state.model_fields['amount'].from_annotation({payload!r})"
        f".apply_typevars_map({{}}, {{}}) is None"
    )


#: Nine levels of nine aliases: about 340 bytes that stand for 387 million strings.
ALIAS_BOMB = (
    "a: &a ["
    + ",".join(['"lol"'] * 9)
    + "]\n"
    + "".join(
        f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def definition(condition: str, *, workflow_type: str = "Probe", extra: str = "") -> str:
    """A definition whose DECISION step routes on ``condition``."""
    return f"""\
workflow_type: "{workflow_type}"
initial_state_model: "security_kit.Order"
{extra}steps:
  - name: "Decide"
    type: DECISION
    routes:
      - condition: {json.dumps(condition)}
        target: "Yes"
      - default: true
        target: "No"
  - name: "Yes"
    function: "security_kit.visit"
  - name: "No"
    function: "security_kit.visit"
"""


async def run_definition(
    config: Path, text: str, data: dict[str, Any] | None = None, **builder_kwargs: Any
) -> Any:
    """Write ``text`` into ``config``, start its workflow in memory and run it to the end."""
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.execution.sync import SyncExecutor
    from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

    config.mkdir(exist_ok=True)
    (config / "probe.yaml").write_text(text, encoding="utf-8")
    builder = WorkflowBuilder(config_dir=config, **builder_kwargs)
    (workflow_type,) = builder.workflow_types
    workflow = await builder.create_workflow(
        workflow_type,
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutor(),
        initial_data=data or {},
    )
    await workflow.run_to_completion()
    return workflow
