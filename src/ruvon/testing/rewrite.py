"""Point a definition (as data) at the harness's doubles, without changing anything else."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ruvon.testing.doubles import STEP_HEADER, HarnessError

#: Step types whose ``function`` a mock may set or replace.
_FUNCTION_TYPES = frozenset({"STANDARD", "DECISION", "HUMAN_IN_LOOP", "ASYNC"})
#: Keys under which a step names the workflow type of a child workflow.
CHILD_KEYS = ("workflow_type", "sub_workflow_type", "target_workflow_type")


def _kind(step: Mapping[str, Any]) -> str:
    kind = step.get("type") or "STANDARD"
    return kind.strip().upper() if isinstance(kind, str) else str(kind)


def walk_steps(steps: Any) -> Iterator[dict[str, Any]]:
    """Every step dict in ``steps``, including loop bodies and steps a rule may insert."""
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        yield step
        yield from walk_steps(step.get("loop_body"))
        injection = step.get("dynamic_injection")
        rules = injection.get("rules") if isinstance(injection, dict) else None
        for rule in rules if isinstance(rules, list) else []:
            if isinstance(rule, dict):
                yield from walk_steps(rule.get("steps_to_insert"))


def child_types(raw: Mapping[str, Any]) -> list[str]:
    """Workflow types that steps of ``raw`` start as children."""
    found: list[str] = []
    for step in walk_steps(raw.get("steps")):
        if _kind(step) in ("SUB_WORKFLOW", "FIRE_AND_FORGET"):
            found += [step[k] for k in CHILD_KEYS if isinstance(step.get(k), str)]
    return found


def rewrite(
    raw: Mapping[str, Any],
    *,
    steps: Mapping[str, str],
    compensations: Mapping[str, str],
    http_steps: bool = True,
) -> tuple[dict[str, Any], set[str]]:
    """A copy of ``raw`` using the doubles; also the names of the mocks that were used.

    Args:
        raw: The definition as data.
        steps: Step or task name -> dotted path of the double that replaces its function.
        compensations: Step name -> dotted path of the double that replaces its compensation.
        http_steps: Tag every HTTP step's request with its step name (for the harness transport).
    """
    data = copy.deepcopy(dict(raw))
    used: set[str] = set()
    for step in walk_steps(data.get("steps")):
        name = step.get("name")
        kind = _kind(step)
        if isinstance(name, str) and name in steps:
            _replace_function(step, kind, steps[name])
            used.add(name)
        if isinstance(name, str) and name in compensations:
            step["compensate_function"] = compensations[name]
            used.add(f"compensation:{name}")
        for task in step.get("tasks") or []:
            if isinstance(task, dict) and task.get("name") in steps:
                key = "function_path" if "function_path" in task else "function"
                task[key] = steps[task["name"]]
                used.add(task["name"])
        if kind == "HTTP" and http_steps and isinstance(name, str):
            _tag_request(step, name)
    return data, used


def _replace_function(step: dict[str, Any], kind: str, path: str) -> None:
    if kind == "PARALLEL" and step.get("task_function"):
        step["task_function"] = path
    elif kind in _FUNCTION_TYPES or "function" in step:
        step["function"] = path
    else:
        raise HarnessError(
            f"Step '{step.get('name')}' is a {kind} step, which has no function to mock. Mock an "
            f"HTTP step with harness.mock_http(...), or mock the steps inside a LOOP or the tasks "
            f"of a PARALLEL step by their own names."
        )


def _tag_request(step: dict[str, Any], name: str) -> None:
    holder = step["http_config"] if isinstance(step.get("http_config"), dict) else step
    headers = holder.get("headers")
    holder["headers"] = {**(headers if isinstance(headers, dict) else {}), STEP_HEADER: name}


def unknown_names(wanted: set[str], used: set[str], describe: Callable[[], str]) -> None:
    """Refuse mocks whose step was not found (a typo would otherwise run the real code)."""
    missing = sorted(wanted - used)
    if missing:
        raise HarnessError(
            f"The test harness mocks {', '.join(repr(m) for m in missing)}, but the workflow has "
            f"no such step, task or compensation ({describe()}). Fix the name."
        )
