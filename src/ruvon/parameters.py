"""Load-time substitution in definitions: ``{{ parameters.x }}`` and ``${ENV_VAR:-default}``.

Runtime templates (``{{ state.order_id }}`` in an HTTP step) are left alone: only the two forms above
are replaced, once, when the definition is loaded. A string that is exactly one placeholder takes the
value's own type (``timeout_seconds: "{{ parameters.timeout }}"`` becomes a number).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ruvon.errors import DefinitionError

_PARAMETER = re.compile(r"\{\{\s*parameters\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ENVIRONMENT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(
    raw: Mapping[str, Any],
    *,
    source: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return ``raw`` with parameters and environment variables substituted.

    Parameters come from the definition's top-level ``parameters:`` mapping (the defaults), updated
    by ``overrides``.

    Raises:
        DefinitionError: A placeholder names an unknown parameter or an unset variable without default.
    """
    defaults = raw.get("parameters") or {}
    if not isinstance(defaults, Mapping):
        raise DefinitionError(
            f"{source}: 'parameters' must be a mapping of names to default values."
        )
    parameters = {**defaults, **(overrides or {})}
    env = os.environ if environ is None else environ
    result = _walk(dict(raw), parameters, env, source)
    assert isinstance(result, dict)
    if parameters:  # the stored definition records the values used, not only the defaults
        result["parameters"] = dict(parameters)
    return result


def _walk(value: Any, parameters: Mapping[str, Any], env: Mapping[str, str], source: str) -> Any:
    if isinstance(value, dict):
        return {key: _walk(item, parameters, env, source) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, parameters, env, source) for item in value]
    if isinstance(value, str) and ("{{" in value or "${" in value):
        return _replace(value, parameters, env, source)
    return value


def _replace(text: str, parameters: Mapping[str, Any], env: Mapping[str, str], source: str) -> Any:
    def parameter(match: re.Match[str]) -> Any:
        name = match.group(1)
        if name not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            raise DefinitionError(
                f"{source}: '{match.group(0)}' names the unknown parameter '{name}' (known: {known}). "
                f"Add it under the top-level 'parameters:' mapping or pass it to WorkflowBuilder."
            )
        return parameters[name]

    def variable(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise DefinitionError(
            f"{source}: the environment variable {name} used as '{match.group(0)}' is not set. "
            f"Set it, or give a default: '${{{name}:-value}}'."
        )

    whole = _PARAMETER.fullmatch(text.strip())
    if whole:
        return parameter(whole)
    text = _PARAMETER.sub(lambda m: str(parameter(m)), text)
    return _ENVIRONMENT.sub(variable, text)
