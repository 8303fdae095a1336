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


def test_step_kinds_have_their_own_shapes():
    raw = yaml.safe_load(
        textwrap.dedent(
            """
            workflow_type: Kinds
            initial_state_model: quick.models.QuickState
            steps:
              - name: Choose
                type: DECISION
                function: a.b
                routes:
                  - {condition: "state.total > 2", target: Ask}
              - name: EachItem
                type: LOOP
                iterate_over: state.items
                loop_body:
                  - {name: First, function: a.b}
                  - {name: Second, function: a.b}
              - name: Fan
                type: PARALLEL
                iterate_over: state.items
                task_function: a.each
              - name: Ask
                type: HUMAN_IN_LOOP
                function: a.b
              - name: Child
                type: SUB_WORKFLOW
                workflow_type: Quick
            """
        )
    )
    text = mermaid_flowchart(parse_definition(raw, source="kinds.yaml"))
    assert 'step0{"Choose"}' in text
    assert 'subgraph step1["EachItem (LOOP over state.items)"]' in text
    assert "step1_b0 --> step1_b1" in text
    assert 'step2_each["a.each for each state.items"]' in text
    assert 'step3[/"Ask (waits for input)"/]' in text
    assert 'step4[["Child → Quick"]]' in text
    assert "step4 --> finish" in text
