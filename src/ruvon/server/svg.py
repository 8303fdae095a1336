"""Small server-side SVG drawings for the dashboard: the step graph and the task timeline.

Everything that comes from a workflow (names, messages) is escaped; no script runs in the browser
to draw them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

_BOX_W = 240
_BOX_H = 34
_GAP = 26
_TASK_W = 120
_TASK_H = 26
_PAD = 12


def step_graph(steps: Sequence[dict[str, Any]], current: int | None, status: str) -> Markup:
    """The definition's steps top to bottom (PARALLEL tasks side by side inside their step).

    Args:
        steps: The saved definition's steps (dicts with ``name``, ``type``, ``tasks``, ``routes``).
        current: The index of the current step (highlighted), or ``None``.
        status: The workflow's status: steps before ``current`` are drawn as done.
    """
    parts: list[str] = []
    y = _PAD
    widths = [_step_width(step) for step in steps]
    width = max([_BOX_W, *widths]) + 2 * _PAD + 160
    centre = _PAD + max([_BOX_W, *widths]) // 2
    for index, step in enumerate(steps):
        kind = str(step.get("type", "STANDARD"))
        tasks = _task_names(step)
        height = _BOX_H + (_TASK_H + 10 if tasks else 0)
        w = widths[index]
        x = centre - w // 2
        state = _state(index, current, status)
        parts.append(
            f'<g class="step {state}" data-step="{escape(step.get("name", ""))}">'
            f'<rect x="{x}" y="{y}" width="{w}" height="{height}" rx="6"/>'
            f'<text x="{centre}" y="{y + 21}" text-anchor="middle">'
            f"{escape(_short(str(step.get('name', '')), 30))}"
            f'<tspan class="kind">{"" if kind == "STANDARD" else " " + escape(kind)}</tspan>'
            f"</text>"
        )
        tx = centre - (len(tasks) * (_TASK_W + 8) - 8) // 2
        for task in tasks:
            parts.append(
                f'<rect class="task" x="{tx}" y="{y + _BOX_H}" width="{_TASK_W}" '
                f'height="{_TASK_H}" rx="4"/><text class="task" x="{tx + _TASK_W // 2}" '
                f'y="{y + _BOX_H + 17}" text-anchor="middle">{escape(_short(task, 16))}</text>'
            )
            tx += _TASK_W + 8
        routes = step.get("routes") or []
        for k, route in enumerate(routes if isinstance(routes, list) else []):
            if isinstance(route, dict):
                label = f"→ {route.get('target', '?')}"
                if route.get("condition"):
                    label += f" if {route['condition']}"
                parts.append(
                    f'<text class="route" x="{x + w + 8}" y="{y + 14 + 14 * k}">'
                    f"{escape(_short(label, 40))}</text>"
                )
        parts.append("</g>")
        y += height
        if index + 1 < len(steps):
            parts.append(
                f'<line class="edge" x1="{centre}" y1="{y}" x2="{centre}" y2="{y + _GAP - 4}" '
                f'marker-end="url(#arrow)"/>'
            )
        y += _GAP
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" '
        f'height="{y}" viewBox="0 0 {width} {y}" role="img" aria-label="step graph">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    )
    return Markup(head + "".join(parts) + "</svg>")


def _step_width(step: dict[str, Any]) -> int:
    tasks = _task_names(step)
    return max(_BOX_W, len(tasks) * (_TASK_W + 8) + 16)


def _task_names(step: dict[str, Any]) -> list[str]:
    tasks = step.get("tasks") or []
    names = (
        [str(t.get("name")) for t in tasks if isinstance(t, dict)]
        if isinstance(tasks, list)
        else []
    )
    if not names and step.get("task_function"):
        names = [f"{step['task_function']} ×N"]
    return names


def _state(index: int, current: int | None, status: str) -> str:
    if status == "COMPLETED":
        return "done"
    if current is None:
        return ""
    if index < current:
        return "done"
    if index == current:
        return "current failed" if status.startswith("FAILED") else "current"
    return ""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_BARS = 200
"""Task runs drawn at most (the latest); a large fan-out keeps the page small."""
_LABEL_W = 200
_BAR_AREA = 560
_ROW = 24


def task_timeline(tasks: Sequence[dict[str, Any]], now: float | None = None) -> Markup:
    """A Gantt chart of PARALLEL task runs: one bar per task from its start to its end.

    Bars of tasks that ran at the same time overlap horizontally. A task still running (no end
    yet) reaches to ``now``.
    """
    timed = [t for t in tasks if t.get("started_at")]
    if not timed:
        return Markup('<p class="dim">No PARALLEL task has run yet.</p>')
    left_out = max(len(timed) - MAX_BARS, 0)
    timed = timed[-MAX_BARS:]
    now = time.time() if now is None else now
    start = min(float(t["started_at"]) for t in timed)
    end = max(float(t.get("ended_at") or now) for t in timed)
    span = max(end - start, 1e-3)
    scale = _BAR_AREA / span
    height = _ROW * len(timed) + 30
    width = _LABEL_W + _BAR_AREA + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="timeline of parallel tasks">'
    ]
    for row, task in enumerate(timed):
        began = float(task["started_at"])
        ended = float(task.get("ended_at") or now)
        x = _LABEL_W + (began - start) * scale
        w = max((ended - began) * scale, 2.0)
        y = row * _ROW + 4
        name = f"{task.get('step')} › {task.get('task')}"
        status = str(task.get("status") or "RUNNING").lower()
        tip = f"{name}: {ended - began:.3f}s ({task.get('status') or 'running'})"
        steps = {t.get("step") for t in timed}
        label = str(task.get("task")) if len(steps) == 1 else name
        parts.append(
            f'<text class="label" x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(_short(label, 30))}</text>"
            f'<rect class="bar {escape(status)}" data-task="{escape(task.get("task"))}" '
            f'data-start="{began:.6f}" data-end="{ended:.6f}" x="{x:.1f}" y="{y}" '
            f'width="{w:.1f}" height="{_ROW - 8}" rx="3"><title>{escape(tip)}</title></rect>'
        )
    axis_y = _ROW * len(timed) + 12
    parts.append(
        f'<line class="axis" x1="{_LABEL_W}" y1="{axis_y - 6}" x2="{_LABEL_W + _BAR_AREA}" '
        f'y2="{axis_y - 6}"/><text class="axis" x="{_LABEL_W}" y="{axis_y + 10}">0 s</text>'
        f'<text class="axis" x="{_LABEL_W + _BAR_AREA}" y="{axis_y + 10}" text-anchor="end">'
        f"{span:.2f} s</text></svg>"
    )
    if left_out:
        parts.append(f'<p class="dim">The {left_out} earlier task runs are left out.</p>')
    return Markup("".join(parts))
