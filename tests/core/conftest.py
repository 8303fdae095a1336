from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import core_kit
import pytest

from ruvon.builder import WorkflowBuilder


@pytest.fixture(autouse=True)
def _reset_kit() -> Iterator[None]:
    core_kit.reset()
    yield
    core_kit.reset()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML definitions into tmp_path/config and return the directory."""
    config = tmp_path / "config"
    config.mkdir()

    def write(**files: str) -> Path:
        for name, text in files.items():
            (config / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return config

    return write


@pytest.fixture
def builder_for(write_config: Callable[..., Path]) -> Callable[[str], WorkflowBuilder]:
    """A builder over one definition given as YAML text (file workflow.yaml)."""

    def make(yaml_text: str) -> WorkflowBuilder:
        return WorkflowBuilder(config_dir=write_config(**{"workflow.yaml": yaml_text}))

    return make
