"""``ruvon graph``: Mermaid text for the tutorial (subprocess) and for routes (in process)."""

from __future__ import annotations

import textwrap

import yaml

from ruvon.cli.graph import mermaid_flowchart
from ruvon.definition import parse_definition


def test_graph_of_the_tutorial(ruvon):
    done = ruvon("graph", "OrderProcessing")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("flowchart TD\n")
    for name in ("Validate_Order", "Check_Results", "Calculate_Shipping"):
        assert f'["{name}"]' in text
    assert 'subgraph step1["Parallel_Validation (PARALLEL)"]' in text
    for task in ("check_inventory", "verify_payment", "fraud_check"):
        assert f'["{task}"]' in text
    assert "step0 --> step1\n" in text
    assert "step1 --> step2\n" in text
    assert "step3 --> finish\n" in text


def test_graph_of_an_unknown_type_exits_4(ruvon):
    done = ruvon("graph", "Nope")
    assert done.returncode == 4
    assert done.stderr.startswith("error: Unknown workflow type 'Nope'")


def test_routes_are_labelled_edges():
    raw = yaml.safe_load(
        textwrap.dedent(
            """
            workflow_type: Routed
            initial_state_model: quick.models.QuickState
            steps:
              - name: Sum
                function: a.b
                routes:
                  - {condition: 'state.total > 2 and state.name == "x"', target: Big}
                  - {default: true, target: Small}
              - name: Check
                function: a.b
                routes:
                  - {condition: "state.size", target: Sum}
              - name: Small
                function: a.b
              - name: Big
                function: a.b
            """
        )
    )
    text = mermaid_flowchart(parse_definition(raw, source="routed.yaml"))
    assert 'step0 -->|"state.total > 2 and state.name == #quot;x#quot;"| step3' in text
    assert 'step0 -->|"default"| step2' in text
    assert "step0 --> step1" not in text  # a default route replaces the fall-through
    assert 'step1 -->|"state.size"| step0' in text
    assert 'step1 -->|"otherwise"| step2' in text
    assert "step3 --> finish" in text
