"""Extra definitions for the CLI tests of exit codes, input checks and JSON output."""

from __future__ import annotations

import textwrap
from pathlib import Path

EXTRA_MODELS = """
from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    total: int | None = None


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class Decision(BaseModel):
    approved: bool
    note: str = ""
"""

EXTRA_STEPS = """
import sys


def bail(state, context, **kwargs):
    sys.exit(3)


def decide(state, context, approved=None, **kwargs):
    return {}


def noop(state, context, **kwargs):
    return {}
"""

EXTRA_YAML = {
    "bail.yaml": """
        workflow_type: Bail
        initial_state_model: quick.models.QuickState
        steps:
          - name: Greet
            function: quick.steps.greet
            automate_next: true
          - name: Bail
            function: extra.steps.bail
    """,
    "strict.yaml": """
        workflow_type: StrictData
        initial_state_model: extra.models.Strict
        steps:
          - name: Noop
            function: extra.steps.noop
    """,
    "open.yaml": """
        workflow_type: OpenData
        initial_state_model: extra.models.Open
        steps:
          - name: Noop
            function: extra.steps.noop
    """,
    "decide.yaml": """
        workflow_type: Decide
        initial_state_model: quick.models.QuickState
        steps:
          - name: Review
            type: HUMAN_IN_LOOP
            function: extra.steps.decide
            input_model: extra.models.Decision
    """,
}


LEGACY = """
import logging

logging.getLogger("extra.legacy").warning("extra.legacy is deprecated, use quick.steps")


def old(state, context, **kwargs):
    return {}
"""

LEGACY_YAML = """
workflow_type: Legacy
initial_state_model: quick.models.QuickState
steps:
  - name: Old
    function: extra.legacy.old
"""


def add_extra(project: Path) -> None:
    """Add the ``extra`` package and its definitions to ``quick_config`` of ``project``."""
    (project / "extra").mkdir()
    (project / "extra" / "__init__.py").write_text("")
    (project / "extra" / "models.py").write_text(EXTRA_MODELS.lstrip())
    (project / "extra" / "steps.py").write_text(EXTRA_STEPS.lstrip())
    (project / "extra" / "legacy.py").write_text(LEGACY.lstrip())
    for name, text in EXTRA_YAML.items():
        (project / "quick_config" / name).write_text(textwrap.dedent(text).lstrip())
