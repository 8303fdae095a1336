"""Fixtures for the routilux tests."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The helper routines must be importable by module name, also from subprocesses,
# because serialization stores classes by import path.
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from routilux import Flow  # noqa: E402


@pytest.fixture
def make_flow() -> Iterator[Callable[..., Flow]]:
    """Creates flows that are shut down (without waiting) after the test."""
    flows: list[Flow] = []

    def factory(**kwargs: Any) -> Flow:
        flow = Flow(**kwargs)
        flows.append(flow)
        return flow

    yield factory
    for flow in flows:
        flow.shutdown(wait=False)
