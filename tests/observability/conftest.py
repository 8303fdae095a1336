"""Fixtures of the observability tests: the core test kit, a builder and an in-memory span store."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
HERE = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(CORE), str(HERE)) if p not in sys.path]

from ruvon.builder import WorkflowBuilder  # noqa: E402


@pytest.fixture
def builder_for(tmp_path: Path) -> Callable[[str], WorkflowBuilder]:
    """A builder over one definition given as YAML text."""

    def make(yaml_text: str) -> WorkflowBuilder:
        config = tmp_path / "config"
        config.mkdir(exist_ok=True)
        (config / "workflow.yaml").write_text(textwrap.dedent(yaml_text), encoding="utf-8")
        return WorkflowBuilder(config_dir=config)

    return make


@pytest.fixture
def spans() -> Iterator[tuple[Any, Any]]:
    """``(tracer_provider, exporter)``: an SDK provider whose finished spans stay in memory."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()
