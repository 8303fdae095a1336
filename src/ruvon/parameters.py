"""Load-time substitution in definitions: ``{{ parameters.x }}`` and ``${ENV_VAR:-default}``.

Runtime templates (``{{ state.order_id }}`` in an HTTP step) are left alone: only the two forms above
are replaced, once, when the definition is loaded. A string that is exactly one placeholder takes the
value's own type (``timeout_seconds: "{{ parameters.timeout }}"`` becomes a number).

Parameter and environment values are data, never code (docs/security.md):

- inside an expression (``condition``, ``while_condition``, ``input_mapping``) a value becomes a
  literal of its type in the expression's syntax tree, so ``state.n >= {{ parameters.limit }}`` with
  ``limit: "1 or True"`` compares with the string ``'1 or True'``;
- keys that name code (``function``, ``initial_state_model``, ...) take no placeholders;
- a value pasted into other text may not contain template delimiters (``{{``, ``{%``, ``{#``), and
  pasted text is never scanned again (a value holding ``${SECRET}`` stays as written);
- a value given for a parameter must have the type of the parameter's default.
"""

from __future__ import annotations

import ast
import math
import os
import re
from collections.abc import Mapping
from typing import Any

from ruvon.errors import DefinitionError

_PLACEHOLDER = re.compile(
    r"\{\{\s*parameters\.(?P<param>[A-Za-z_][A-Za-z0-9_]*)\s*\}\}"
    r"|\$\{(?P<env>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
)
_TEMPLATE_DELIMITERS = ("{{", "{%", "{#")
#: Keys whose strings are expressions (and input_mapping, whose values are).
_EXPRESSION_KEYS = frozenset({"condition", "while_condition"})
#: Keys whose strings name code to import: a placeholder there would let data choose what runs.
_CODE_KEYS = frozenset(
    {
        "function",
        "function_path",
        "task_function",
        "compensate_function",
        "merge_function",
        "initial_state_model",
        "input_model",
    }
)
_MARK = "_ruvon_value_{}_"
_NUMBER = re.compile(r"-?(\d+|\d*\.\d+([eE][-+]?\d+)?|\d+[eE][-+]?\d+)")


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
        DefinitionError: A placeholder names an unknown parameter or an unset variable without
            default, an override has another type than the default, or a value would become code.
    """
    defaults = raw.get("parameters") or {}
    if not isinstance(defaults, Mapping):
        raise DefinitionError(
            f"{source}: 'parameters' must be a mapping of names to default values."
        )
    _check_types(defaults, overrides or {}, source)
    parameters = {**defaults, **(overrides or {})}
    env = os.environ if environ is None else environ
    result = _Substitution(parameters, env, source).walk(dict(raw), "")
    assert isinstance(result, dict)
    if parameters:  # the stored definition records the values used, not only the defaults
        result["parameters"] = dict(parameters)
    return result


def _check_types(defaults: Mapping[str, Any], overrides: Mapping[str, Any], source: str) -> None:
    for name, value in overrides.items():
        if name not in defaults or defaults[name] is None:
            continue
        expected = type(defaults[name])
        ok = isinstance(value, expected) and isinstance(value, bool) == (expected is bool)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True  # an int is a fine float
        if not ok:
            raise DefinitionError(
                f"{source}: the parameter '{name}' was given {value!r} ({type(value).__name__}), "
                f"but its default {defaults[name]!r} is of type {expected.__name__}. Pass a "
                f"value of that type."
            )


class _Substitution:
    """One definition's substitution: the values, the environment and where they come from."""

    def __init__(self, parameters: Mapping[str, Any], env: Mapping[str, str], source: str) -> None:
        self.parameters = parameters
        self.env = env
        self.source = source

    def walk(self, value: Any, key: str, in_mapping: bool = False) -> Any:
        if isinstance(value, dict):
            return {
                k: self.walk(item, str(k), in_mapping=key == "input_mapping")
                for k, item in value.items()
            }
        if isinstance(value, list):
            return [self.walk(item, key) for item in value]
        if not (isinstance(value, str) and _PLACEHOLDER.search(value)):
            return value
        if key in _CODE_KEYS and not in_mapping:
            raise DefinitionError(
                f"{self.source}: '{key}: {value}' uses a placeholder, but '{key}' names code to "
                f"import; a parameter or environment variable may not choose it. Write the "
                f"dotted path out."
            )
        if key in _EXPRESSION_KEYS or in_mapping:
            return self.expression(value, key)
        return self.text(value, key)

    def value_of(self, match: re.Match[str]) -> Any:
        """The value a placeholder stands for (an environment value is always a string)."""
        name = match.group("param")
        if name is not None:
            if name not in self.parameters:
                known = ", ".join(sorted(self.parameters)) or "none"
                raise DefinitionError(
                    f"{self.source}: '{match.group(0)}' names the unknown parameter '{name}' "
                    f"(known: {known}). Add it under the top-level 'parameters:' mapping or pass "
                    f"it to WorkflowBuilder."
                )
            return self.parameters[name]
        variable, default = match.group("env"), match.group("default")
        if variable in self.env:
            return self.env[variable]
        if default is not None:
            return default
        raise DefinitionError(
            f"{self.source}: the environment variable {variable} used as '{match.group(0)}' is "
            f"not set. Set it, or give a default: '${{{variable}:-value}}'."
        )

    def text(self, text: str, key: str) -> Any:
        def pasted(value: Any) -> Any:
            if any(d in str(value) for d in _TEMPLATE_DELIMITERS):
                raise DefinitionError(
                    f"{self.source}: '{key}: {text}' would take the value {value!r}, and a "
                    f"parameter or environment value may not bring template delimiters "
                    f"({{{{, {{%, {{#}}) into a definition. Remove them from the value."
                )
            return value

        whole = _PLACEHOLDER.fullmatch(text.strip())
        if whole and whole.group("param"):
            return pasted(self.value_of(whole))
        # One pass: pasted text is never scanned for placeholders again.
        return _PLACEHOLDER.sub(lambda m: str(pasted(self.value_of(m))), text)

    def expression(self, text: str, key: str) -> str:
        """The expression with each placeholder replaced by a literal of its value's type."""
        values: dict[str, Any] = {}

        def mark(match: re.Match[str]) -> str:
            value = self.value_of(match)
            if match.group("env") is not None:
                value = _env_scalar(value)
            name = _MARK.format(len(values))
            values[name] = value
            return name

        marked = _PLACEHOLDER.sub(mark, text)
        try:
            tree = ast.parse(marked.strip(), mode="eval")
        except SyntaxError:
            return text  # left as written: validation reports the expression with file and line
        try:
            tree = _Literals(values).visit(tree)
        except _Misplaced as exc:
            raise DefinitionError(
                f"{self.source}: '{key}: {text}' uses a placeholder where a value cannot go "
                f"({exc}). Placeholders in expressions stand for values only."
            ) from None
        except ValueError as exc:
            raise DefinitionError(f"{self.source}: '{key}: {text}': {exc}") from None
        return ast.unparse(tree)


def _env_scalar(text: str) -> Any:
    """An environment value in an expression: a number if it reads as one, else a string."""
    stripped = text.strip()
    if _NUMBER.fullmatch(stripped):
        return float(stripped) if any(c in stripped for c in ".eE") else int(stripped)
    return text


class _Misplaced(Exception):
    """A placeholder stands where only a name of code could go (an attribute, a call's name)."""


class _Literals(ast.NodeTransformer):
    """Replaces placeholder marks with literal nodes; any other use of a mark is refused."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.values:
            return ast.copy_location(_literal(self.values[node.id], node.id), node)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str) and any(m in node.value for m in self.values):
            text = node.value
            for mark, value in self.values.items():
                text = text.replace(mark, str(value))
            return ast.copy_location(ast.Constant(text), node)
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        for field in ("attr", "arg"):
            name = getattr(node, field, None)
            if isinstance(name, str) and any(m in name for m in self.values):
                raise _Misplaced("as a field or argument name")
        return super().generic_visit(node)


def _literal(value: Any, mark: str) -> ast.expr:
    """A syntax-tree literal for plain data: str, int, float, bool, None, and lists/dicts of them."""
    if value is None or isinstance(value, bool | int | str):
        return ast.Constant(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"the value {value!r} has no literal form in an expression")
        return ast.Constant(value)
    if isinstance(value, list | tuple):
        return ast.List([_literal(item, mark) for item in value], ast.Load())
    if isinstance(value, dict):
        keys: list[ast.expr | None] = [_literal(k, mark) for k in value]
        return ast.Dict(keys, [_literal(v, mark) for v in value.values()])
    raise ValueError(
        f"a {type(value).__name__} value cannot be used in an expression; parameters there must "
        f"be plain data (str, int, float, bool, None, lists and dicts of them)"
    )
