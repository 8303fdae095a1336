"""Test tools: run workflows in memory with mocked steps, mocked HTTP replies and a fake clock.

``TestHarness`` drives any number of workflows by id (``start_workflow``, ``next_step``,
``run``); ``WorkflowTestHarness`` wraps one workflow of one definition. Both use an in-memory store
and run steps in the test's thread, so a test is fast and deterministic.
"""

from __future__ import annotations

from ruvon.testing.clock import FakeClock
from ruvon.testing.doubles import Call, HarnessError, HttpCall, HttpReply, StepMock
from ruvon.testing.harness import TestHarness
from ruvon.testing.single import WorkflowTestHarness

__all__ = [
    "Call",
    "FakeClock",
    "HarnessError",
    "HttpCall",
    "HttpReply",
    "StepMock",
    "TestHarness",
    "WorkflowTestHarness",
]
