"""Workflow definitions shared by the observability tests (importable as obs_kit)."""

from __future__ import annotations

FLOW = """\
workflow_type: "Traced"
initial_state_model: "core_kit.State"
steps:
  - name: "Prepare"
    function: "core_kit.increment"
    automate_next: true
  - name: "Fan"
    type: "PARALLEL"
    automate_next: true
    tasks:
      - name: "left"
        function_path: "core_kit.task_a"
      - name: "right"
        function_path: "core_kit.task_b"
  - name: "Approve"
    function: "core_kit.pause_for_input"
    automate_next: true
  - name: "Finish"
    function: "core_kit.increment"
"""

FAILING = """\
workflow_type: "Broken"
initial_state_model: "core_kit.State"
steps:
  - name: "Prepare"
    function: "core_kit.increment"
    automate_next: true
  - name: "Charge"
    function: "core_kit.mutate_then_fail"
"""

PARTIAL = """\
workflow_type: "Partial"
initial_state_model: "core_kit.State"
steps:
  - name: "Fan"
    type: "PARALLEL"
    allow_partial_success: true
    tasks:
      - name: "good"
        function_path: "core_kit.task_c"
      - name: "bad"
        function_path: "core_kit.task_fail"
"""
