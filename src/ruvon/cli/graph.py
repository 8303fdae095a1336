"""Mermaid ``flowchart TD`` text for a workflow definition."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ruvon.definition import WorkflowDefinition
from ruvon.step_models import (
    DecisionStep,
    HumanStep,
    LoopStep,
    ParallelStep,
    StepBase,
    SubWorkflowStep,
)

_START = "start"
_END = "finish"


def mermaid_flowchart(definition: WorkflowDefinition) -> str:
    """The steps of ``definition`` as a Mermaid flowchart.

    A PARALLEL step is a subgraph holding its tasks (a dynamic fan-out shows its task function per
    item), a LOOP step a subgraph of its body. DECISION steps are diamonds, HUMAN_IN_LOOP steps
    parallelograms, SUB_WORKFLOW steps subroutine boxes. Routes are edges labelled with their
    condition (``default`` for the default route); a step without a default route also falls through
    to the next step, as the engine does when no condition holds. Jumps made at run time by
    ``WorkflowJumpDirective`` cannot be known from the definition and are not drawn.
    """
    steps: Sequence[StepBase] = definition.steps
    ids = {step.name: f"step{i}" for i, step in enumerate(steps)}
    lines = ["flowchart TD", f'    {_START}(["{_label(definition.workflow_type)}"])']
    for step in steps:
        lines += _node_lines(step, ids[step.name])
    lines.append(f"    {_END}([end])")
    lines.append(f"    {_START} --> {ids[steps[0].name]}")
    for i, step in enumerate(steps):
        following = ids[steps[i + 1].name] if i + 1 < len(steps) else _END
        lines += _edge_lines(step, ids, following)
    return "\n".join(lines) + "\n"


def _node_lines(step: StepBase, node: str) -> list[str]:
    name = _label(step.name)
    if isinstance(step, ParallelStep):
        lines = [f'    subgraph {node}["{name} (PARALLEL)"]', "        direction LR"]
        lines += [
            f'        {node}_t{j}["{_label(task.name)}"]' for j, task in enumerate(step.tasks)
        ]
        if step.task_function:
            each = _label(f"{step.task_function} for each {step.iterate_over or 'item'}")
            lines.append(f'        {node}_each["{each}"]')
        return [*lines, "    end"]
    if isinstance(step, LoopStep):
        how = (
            f"while {step.while_condition}" if step.while_condition else f"over {step.iterate_over}"
        )
        lines = [f'    subgraph {node}["{name} (LOOP {_label(how)})"]', "        direction TB"]
        body = [f"{node}_b{j}" for j in range(len(step.loop_body))]
        lines += [
            f'        {b}["{_label(s.name)}"]' for b, s in zip(body, step.loop_body, strict=True)
        ]
        lines += [f"        {a} --> {b}" for a, b in itertools.pairwise(body)]
        return [*lines, "    end"]
    return [f"    {node}{_shape(step, name)}"]


def _shape(step: StepBase, name: str) -> str:
    if isinstance(step, DecisionStep):
        return f'{{"{name}"}}'
    if isinstance(step, HumanStep):
        return f'[/"{name} (waits for input)"/]'
    if isinstance(step, SubWorkflowStep):
        return f'[["{name} → {_label(step.workflow_type)}"]]'
    kind = str(step.type)
    return f'["{name}"]' if kind == "STANDARD" else f'["{name} ({kind})"]'


def _edge_lines(step: StepBase, ids: dict[str, str], following: str) -> list[str]:
    source = ids[step.name]
    lines = []
    for route in step.routes:
        label = "default" if route.condition is None else route.condition
        lines.append(f'    {source} -->|"{_label(label)}"| {ids[route.target]}')
    if not any(route.default for route in step.routes):
        arrow = '-->|"otherwise"|' if step.routes else "-->"
        lines.append(f"    {source} {arrow} {following}")
    return lines


def _label(text: str) -> str:
    """``text`` made safe inside a quoted Mermaid label."""
    return text.replace('"', "#quot;").replace("\n", " ")
