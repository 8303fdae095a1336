"""Mermaid ``flowchart TD`` text for a workflow definition."""

from __future__ import annotations

from ruvon.definition import StepDefinition, StepType, WorkflowDefinition

_START = "start"
_END = "finish"


def mermaid_flowchart(definition: WorkflowDefinition) -> str:
    """The steps of ``definition`` as a Mermaid flowchart.

    A PARALLEL step is a subgraph holding its tasks; routes are edges labelled with their condition
    (``default`` for the default route). A step without a default route also falls through to the
    next step, as the engine does when no condition holds. Jumps made at run time by
    ``WorkflowJumpDirective`` cannot be known from the definition and are not drawn.
    """
    steps = definition.steps
    ids = {step.name: f"step{i}" for i, step in enumerate(steps)}
    lines = ["flowchart TD", f'    {_START}(["{_label(definition.workflow_type)}"])']
    for i, step in enumerate(steps):
        lines += _node_lines(step, ids[step.name], i)
    lines.append(f"    {_END}([end])")
    lines.append(f"    {_START} --> {ids[steps[0].name]}")
    for i, step in enumerate(steps):
        following = ids[steps[i + 1].name] if i + 1 < len(steps) else _END
        lines += _edge_lines(step, ids, following)
    return "\n".join(lines) + "\n"


def _node_lines(step: StepDefinition, node: str, index: int) -> list[str]:
    if step.type is not StepType.PARALLEL:
        return [f'    {node}["{_label(step.name)}"]']
    lines = [f'    subgraph {node}["{_label(step.name)} (PARALLEL)"]', "        direction LR"]
    lines += [f'        {node}_t{j}["{_label(task.name)}"]' for j, task in enumerate(step.tasks)]
    lines.append("    end")
    return lines


def _edge_lines(step: StepDefinition, ids: dict[str, str], following: str) -> list[str]:
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
