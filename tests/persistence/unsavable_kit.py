"""Step functions whose result a store may not be able to save (importable as unsavable_kit)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext, WorkflowPauseDirective

#: What the ``Bad`` step returns as ``when``; tests set it, and clear it to "fix" the step.
RETURNS: dict[str, Any] = {"when": None}


class State(BaseModel):
    n: int = 0
    when: Any = None


def count(state: State, context: StepContext) -> dict[str, Any]:
    return {"n": state.n + 1}


def bad(state: State, context: StepContext) -> dict[str, Any]:
    return {"n": state.n + 10, "when": RETURNS["when"]}


CONFIG = """\
workflow_type: "Unsavable"
initial_state_model: "unsavable_kit.State"
steps:
  - name: "First"
    function: "unsavable_kit.count"
    automate_next: true
  - name: "Bad"
    {bad}
  - name: "Last"
    function: "unsavable_kit.count"
"""

STANDARD = 'function: "unsavable_kit.bad"'
PARALLEL = 'type: PARALLEL\n    tasks:\n      - {name: "t", function_path: "unsavable_kit.bad"}'


def pause_bad(state: State, context: StepContext) -> dict[str, Any]:
    if context.validated_input is None:
        raise WorkflowPauseDirective(result={"n": state.n + 10, "when": RETURNS["when"]})
    return {"n": state.n + 10}


PAUSING = 'function: "unsavable_kit.pause_bad"'
