"""``{{ env.X }}`` and ``{{ secrets.X }}`` in templates: only names the deployer allows.

The published SDK lets a template read any environment variable, so one step could send every
secret of the process to a URL. Here a template may read ``env.X`` or ``secrets.X`` only when ``X``
is listed by the deployer: under ``env_allow:`` / ``secrets_allow:`` in the registry file
(``workflow_registry.yaml``), or in ``$RUVON_TEMPLATE_ENV_ALLOW`` / ``$RUVON_TEMPLATE_SECRETS_ALLOW``
(comma-separated). Both read the process environment; ``secrets`` values are never logged or saved.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError

from ruvon.errors import TemplateError

ENV_ALLOW_VAR = "RUVON_TEMPLATE_ENV_ALLOW"
SECRETS_ALLOW_VAR = "RUVON_TEMPLATE_SECRETS_ALLOW"
#: Registry-file keys, by template namespace.
REGISTRY_KEYS = {"env": "env_allow", "secrets": "secrets_allow"}
_PARSER = Environment()  # parsing only: nothing is rendered with it


@dataclass(frozen=True, slots=True)
class TemplateNames:
    """The environment variables templates may read as ``env.X`` and as ``secrets.X``."""

    env: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()

    @classmethod
    def from_sources(cls, registry: Mapping[str, Any] | None = None) -> TemplateNames:
        """The names listed in ``registry`` (a registry file's data) and in the environment."""
        registry = registry or {}
        return cls(
            env=_names(registry.get("env_allow")) | _names(os.environ.get(ENV_ALLOW_VAR)),
            secrets=_names(registry.get("secrets_allow"))
            | _names(os.environ.get(SECRETS_ALLOW_VAR)),
        )

    def allowed(self, namespace: str) -> frozenset[str]:
        """The names allowed under ``namespace`` (``env`` or ``secrets``)."""
        return self.env if namespace == "env" else self.secrets


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list):
        return frozenset(str(part) for part in value)
    return frozenset()


def referenced(template: str) -> list[tuple[str, str]]:
    """The ``(namespace, name)`` pairs a template reads under ``env`` and ``secrets``."""
    if "env" not in template and "secrets" not in template:
        return []
    try:
        tree = _PARSER.parse(template)
    except TemplateSyntaxError:
        return []  # the render reports the syntax error
    found: list[tuple[str, str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr) and _namespace(node.node):
            found.append((_namespace(node.node), node.attr))
        elif isinstance(node, nodes.Getitem) and _namespace(node.node):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.append((_namespace(node.node), node.arg.value))
            else:
                found.append((_namespace(node.node), "<computed>"))
    names = {ns for ns, _ in found}
    bare = [
        n.name for n in tree.find_all(nodes.Name) if n.name in REGISTRY_KEYS and n.name not in names
    ]
    return found + [(ns, "<all>") for ns in bare]


def _namespace(node: nodes.Node) -> str:
    return node.name if isinstance(node, nodes.Name) and node.name in REGISTRY_KEYS else ""


def template_values(
    templates: Iterable[tuple[str, str]], names: TemplateNames, where: str
) -> dict[str, dict[str, str]]:
    """The ``env`` and ``secrets`` mappings the templates need, holding only their allowed names.

    Args:
        templates: ``(key, template)`` pairs, the key naming where the template is written.
        names: What the deployer allows.
        where: The step, for messages.

    Raises:
        TemplateError: A template reads a name that is not allowed (or not set), naming it.
    """
    values: dict[str, dict[str, str]] = {"env": {}, "secrets": {}}
    for key, template in templates:
        for namespace, name in referenced(template):
            allowed = names.allowed(namespace)
            if name not in allowed:
                listed = ", ".join(sorted(allowed)) or "none"
                raise TemplateError(
                    f"{where}: the template of '{key}' reads {namespace}.{name}, which is not "
                    f"allowed (allowed: {listed}). A deployer allows a name by listing it under "
                    f"'{REGISTRY_KEYS[namespace]}:' in workflow_registry.yaml or in "
                    f"${ENV_ALLOW_VAR if namespace == 'env' else SECRETS_ALLOW_VAR}."
                )
            if name not in os.environ:
                raise TemplateError(
                    f"{where}: the template of '{key}' reads {namespace}.{name}, but the "
                    f"environment variable {name} is not set. Set it where the workflow runs."
                )
            values[namespace][name] = os.environ[name]
    return values
