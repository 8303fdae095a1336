"""The published SDK's spellings of definition keys, rewritten to ruvon's own before validation.

Each function takes the raw mapping of one YAML node and returns it with the SDK's form turned into
ours (``saga_enabled`` -> ``saga_mode``, ``- default: X`` -> ``{default: true, target: X}``,
``http_config:`` -> the flat HTTP keys, ``retry_policy`` -> ``retry``, ``FIRE_AND_FORGET`` -> a
SUB_WORKFLOW in fire-and-forget mode). A clash (the same setting given both ways, differently) is a
``ValueError`` naming both keys, which the definition loader reports with file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: SDK workflow keys and the ruvon key each one means.
WORKFLOW_ALIASES = {"saga_enabled": "saga_mode", "initial_state_model_path": "initial_state_model"}
#: Keys of the SDK's ``http_config:`` and the flat HTTP-step key each one becomes.
HTTP_CONFIG_KEYS = {
    "method": "method",
    "url": "url",
    "headers": "headers",
    "body": "body",
    "query_params": "query",
    "timeout": "timeout_seconds",
    "retry_policy": "retry_policy",
    "includes": "includes",
}
FIRE_AND_FORGET = "FIRE_AND_FORGET"
_WHOLE_TEMPLATE = re.compile(r"^\s*\{\{(.+)\}\}\s*$", re.DOTALL)


class SdkRetryPolicy(BaseModel):
    """The SDK's ``retry_policy``: ``max_attempts`` in all (default 1), ``delay_seconds`` apart (5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=5.0, ge=0)


def workflow_aliases(data: Any) -> tuple[Any, list[tuple[str, str]]]:
    """``data`` with ``saga_enabled`` / ``initial_state_model_path`` renamed to ours.

    Returns the mapping and the ``(key, message)`` of each alias that disagrees with the key it
    stands for (that alias is dropped, so the rest of the definition can still be checked).
    """
    if not isinstance(data, Mapping):
        return data, []
    result, problems = dict(data), []
    for alias, canonical in WORKFLOW_ALIASES.items():
        if alias not in result:
            continue
        value = result.pop(alias)
        if canonical in result and result[canonical] != value:
            problems.append(
                (
                    alias,
                    f"'{alias}: {value}' and '{canonical}: {result[canonical]}' disagree; they are "
                    f"two names of one setting, so keep one of them.",
                )
            )
            continue
        result[canonical] = value
    return result, problems


def workflow_form(data: Any) -> Any:
    """``data`` with the SDK's workflow keys renamed; a disagreement is a ValueError."""
    result, problems = workflow_aliases(data)
    if problems:
        raise ValueError(" ".join(message for _, message in problems))
    return result


def route_form(data: Any) -> Any:
    """``- default: "Step"`` as a default route to Step; ``next`` as another name of ``target``."""
    if not isinstance(data, Mapping):
        return data
    result = dict(data)
    if "next" in result:
        given = [k for k in ("target", "next_step") if k in result]
        if given:
            raise ValueError(f"a route gives both 'next' and '{given[0]}'; keep one of them")
        result["target"] = result.pop("next")
    default = result.get("default")
    if isinstance(default, str):
        target = result.get("target", result.get("next_step"))
        if target is not None and target != default:
            raise ValueError(
                f"a route says 'default: {default}' and 'target: {target}'; write either "
                f"'- default: {default}' or 'default: true' with one target"
            )
        result.pop("next_step", None)
        result["target"], result["default"] = default, True
    return result


def step_form(data: Any) -> Any:
    """A step's SDK keys as ours: FIRE_AND_FORGET, ``http_config`` and ``retry_policy``."""
    if not isinstance(data, Mapping):
        return data
    result = dict(data)
    kind = result.get("type")
    if isinstance(kind, str) and kind.strip().upper() == FIRE_AND_FORGET:
        result = _fire_and_forget(result)
    if "http_config" in result:
        result = _http_config(result)
    if "retry_policy" in result:
        result = _retry_policy(result)
    return result


def _retry_policy(step: dict[str, Any]) -> dict[str, Any]:
    value = step.pop("retry_policy")
    if step.get("retry") is not None:
        raise ValueError(
            "the step has both 'retry' and 'retry_policy' (the SDK's name); keep one of them"
        )
    try:
        policy = SdkRetryPolicy.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in e['loc']) or 'retry_policy'}': {e['msg']}"
            for e in exc.errors()
        )
        raise ValueError(
            f"retry_policy is not valid ({problems}); its keys are max_attempts and delay_seconds"
        ) from None
    # A fixed delay: the SDK waits delay_seconds before every new attempt.
    step["retry"] = {
        "max_attempts": policy.max_attempts,
        "backoff_seconds": policy.delay_seconds,
        "backoff_multiplier": 1.0,
        "jitter": 0.0,
    }
    return step


def _http_config(step: dict[str, Any]) -> dict[str, Any]:
    config = step.pop("http_config")
    if not isinstance(config, Mapping):
        raise ValueError(
            f"'http_config' must be a mapping of {', '.join(HTTP_CONFIG_KEYS)}, not "
            f"{type(config).__name__}"
        )
    unknown = [k for k in config if k not in HTTP_CONFIG_KEYS]
    if unknown:
        raise ValueError(
            f"'http_config' has the unknown key(s) {', '.join(map(repr, unknown))}. Valid keys: "
            f"{', '.join(HTTP_CONFIG_KEYS)}"
        )
    for key, value in config.items():
        flat = HTTP_CONFIG_KEYS[key]
        if flat in step or key in step:
            raise ValueError(
                f"'{flat}' is given both inside 'http_config' and on the step itself; a step uses "
                f"one form: move it into http_config"
            )
        step[flat] = value
    # The SDK stores the parsed body under output_key unless 'includes' asks for more.
    step.setdefault("includes", ["body"])
    return step


def _fire_and_forget(step: dict[str, Any]) -> dict[str, Any]:
    step["type"] = "SUB_WORKFLOW"
    if "mode" in step:
        raise ValueError("a FIRE_AND_FORGET step has no 'mode' (it is always fire-and-forget)")
    step["mode"] = FIRE_AND_FORGET
    if "target_workflow_type" in step:
        if "workflow_type" in step:
            raise ValueError("give either 'target_workflow_type' or 'workflow_type', not both")
        step["workflow_type"] = step.pop("target_workflow_type")
    template = step.pop("initial_data_template", None)
    if template is None:
        return step
    if not isinstance(template, Mapping):
        raise ValueError("'initial_data_template' must be a mapping of field -> value")
    literal, mapping = dict(step.get("initial_data") or {}), dict(step.get("input_mapping") or {})
    for key, value in template.items():
        whole = _WHOLE_TEMPLATE.match(value) if isinstance(value, str) else None
        if whole:
            mapping[str(key)] = whole.group(1).strip()  # evaluated over the state, type kept
        elif isinstance(value, str) and "{{" in value:
            raise ValueError(
                f"initial_data_template '{key}: {value}' mixes text and a template; use a whole "
                f"'{{{{ expression }}}}' value (or compute the text in an earlier step)"
            )
        else:
            literal[str(key)] = value
    step["initial_data"], step["input_mapping"] = literal, mapping
    return step
