"""Each definition form of the SDK's YAML schema and step-type pages, as ruvon reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ruvon.definition import WorkflowDefinition, load_definition, parse_definition
from ruvon.errors import DefinitionError
from ruvon.step_models import HttpStep, SubWorkflowMode, SubWorkflowStep

KIT = "sdk_harness_kit"


def definition(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "workflow_type": "Forms",
        "initial_state_model": f"{KIT}.Order",
        **top,
        "steps": list(steps),
    }


def step(name: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "function": f"{KIT}.validate", **keys}


def parse(raw: dict[str, Any]) -> WorkflowDefinition:
    return parse_definition(raw, source="forms.yaml")


def problems_of(raw: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "forms.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(raw, source="forms.yaml", path=path)
    return str(caught.value)


# -- routes -------------------------------------------------------------------------------------
def test_a_default_route_may_name_its_step() -> None:
    routes = [{"condition": "state.amount > 10", "next": "B"}, {"default": "C"}]
    parsed = parse(definition(step("A", type="DECISION", routes=routes), step("B"), step("C")))
    first, fallback = parsed.steps[0].routes
    assert (first.target, first.default) == ("B", False)
    assert (fallback.target, fallback.default, fallback.condition) == ("C", True, None)


def test_our_default_form_and_next_step_still_work() -> None:
    routes = [
        {"condition": "state.amount > 10", "next_step": "B"},
        {"default": True, "target": "C"},
    ]
    parsed = parse(definition(step("A", routes=routes), step("B"), step("C")))
    assert [r.target for r in parsed.steps[0].routes] == ["B", "C"]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"default": "B", "target": "C"}, "'default: B' and 'target: C'"),
        ({"condition": "True", "next": "B", "target": "C"}, "both 'next' and 'target'"),
    ],
)
def test_a_route_giving_its_target_twice_is_refused(
    tmp_path: Path, route: dict[str, Any], message: str
) -> None:
    raw = definition(step("A", routes=[route]), step("B"), step("C"))
    assert message in problems_of(raw, tmp_path)


# -- workflow keys ------------------------------------------------------------------------------
def test_saga_enabled_is_saga_mode() -> None:
    assert parse(definition(step("A"), saga_enabled=True)).saga_mode is True
    assert parse(definition(step("A"), saga_enabled=True, saga_mode=True)).saga_mode is True


def test_initial_state_model_path_alone_or_agreeing() -> None:
    raw = definition(step("A"))
    raw["initial_state_model_path"] = raw.pop("initial_state_model")
    assert parse(raw).initial_state_model == f"{KIT}.Order"
    agreeing = definition(step("A"), initial_state_model_path=f"{KIT}.Order")
    assert parse(agreeing).initial_state_model == f"{KIT}.Order"


def test_disagreeing_workflow_aliases_name_both_keys(tmp_path: Path) -> None:
    raw = definition(step("A"), initial_state_model_path="other.Model", saga_enabled=False)
    raw["saga_mode"] = True
    text = problems_of(raw, tmp_path)
    assert "'initial_state_model_path: other.Model' and 'initial_state_model:" in text
    assert "'saga_enabled: False' and 'saga_mode: True' disagree" in text
    assert "line 4" in text  # the alias's own line


# -- step keys ----------------------------------------------------------------------------------
def test_dependencies_name_earlier_steps() -> None:
    parsed = parse(
        definition(step("A"), step("B", dependencies=["A"]), step("C", dependencies=["A", "B"]))
    )
    assert parsed.steps[2].dependencies == ["A", "B"]


def test_a_dependency_on_a_later_or_unknown_step_is_an_error(tmp_path: Path) -> None:
    raw = definition(step("A", dependencies=["B"]), step("B", dependencies=["Nope", "B"]))
    text = problems_of(raw, tmp_path)
    assert "step 'A' depends on 'B', but 'B' comes after it" in text
    assert "step 'B' depends on 'Nope', but there is no step 'Nope' before it" in text
    assert "step 'B' depends on 'B', but 'B' comes after it (or is the step itself)" in text


def test_loop_body_dependencies_may_name_steps_before_the_loop() -> None:
    body = [step("Inner1", dependencies=["A"]), step("Inner2", dependencies=["Inner1"])]
    loop = {"name": "L", "type": "LOOP", "iterate_over": "log", "loop_body": body}
    assert parse(definition(step("A"), loop)).steps[1].name == "L"


def test_automate_start_required_input_and_timeout_are_accepted_on_every_type() -> None:
    keys: dict[str, Any] = {
        "automate_start": True,
        "required_input": ["approved"],
        "timeout_seconds": 5,
    }
    parsed = parse(
        definition(
            step("A", **keys),
            {"name": "H", "type": "HUMAN_IN_LOOP", **keys},
            step("D", type="DECISION", **keys),
            {
                "name": "P",
                "type": "PARALLEL",
                "tasks": [{"name": "t", "function_path": f"{KIT}.ship"}],
                **keys,
            },
        )
    )
    assert all(s.automate_start and s.required_input == ["approved"] for s in parsed.steps)
    assert {s.timeout_seconds for s in parsed.steps} == {5.0}


def test_retry_policy_is_a_fixed_delay_retry_with_the_sdk_defaults() -> None:
    parsed = parse(
        definition(
            step("A", retry_policy={"max_attempts": 3, "delay_seconds": 2}),
            step("B", retry_policy={}),
        )
    )
    given, defaults = (s.retry for s in parsed.steps)
    assert given is not None and defaults is not None
    assert (given.max_attempts, given.delay(1), given.delay(2)) == (3, 2.0, 2.0)
    assert (defaults.max_attempts, defaults.delay(1)) == (1, 5.0)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"retry_policy": {"max_attempts": 2}, "retry": {"max_attempts": 2}},
            "both 'retry' and 'retry_policy'",
        ),
        ({"retry_policy": {"attempts": 2}}, "'attempts': Extra inputs are not permitted"),
    ],
)
def test_bad_retry_policies_are_refused(tmp_path: Path, keys: dict[str, Any], message: str) -> None:
    assert message in problems_of(definition(step("A", **keys)), tmp_path)


# -- HTTP ---------------------------------------------------------------------------------------
def http_step(**keys: Any) -> dict[str, Any]:
    return {"name": "Fetch", "type": "HTTP", "output_key": "quote", **keys}


def test_http_config_becomes_the_step_keys() -> None:
    config = {
        "method": "post",
        "url": "https://api.example/products/{{ state.order_id }}",
        "headers": {"Authorization": "Bearer x"},
        "query_params": {"page": "1"},
        "body": {"id": "{{ state.order_id }}"},
        "timeout": 10,
        "retry_policy": {"max_attempts": 3, "delay_seconds": 5},
    }
    [fetch] = parse(
        definition(http_step(http_config=config, includes=["body", "status_code"]))
    ).steps
    assert isinstance(fetch, HttpStep)
    assert (fetch.method, fetch.url, fetch.query, fetch.timeout_seconds) == (
        "POST",
        config["url"],
        {"page": "1"},
        10.0,
    )
    assert fetch.headers == {"Authorization": "Bearer x"} and fetch.body == config["body"]
    assert fetch.retry is not None and fetch.retry.max_attempts == 3
    assert fetch.includes == ["body", "status_code"]


def test_http_config_stores_the_body_unless_includes_says_more() -> None:
    [fetch] = parse(definition(http_step(http_config={"url": "https://x.example"}))).steps
    assert isinstance(fetch, HttpStep) and fetch.includes == ["body"]
    [flat] = parse(definition(http_step(url="https://x.example"))).steps
    assert isinstance(flat, HttpStep) and flat.includes is None  # our form: the whole response


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"url": "https://a", "http_config": {"url": "https://b"}}, "'url' is given both"),
        ({"http_config": {"url": "https://b", "verb": "GET"}}, "unknown key(s) 'verb'"),
        ({"http_config": {"url": "https://b"}, "includes": ["cookies"]}, "includes"),
    ],
)
def test_bad_http_forms_are_refused(tmp_path: Path, keys: dict[str, Any], message: str) -> None:
    assert message in problems_of(definition(http_step(**keys)), tmp_path)


# -- dynamic injection --------------------------------------------------------------------------
def injecting(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return step("Evaluate", dynamic_injection={"rules": rules})


def test_dynamic_injection_rules_parse_with_their_inserted_steps() -> None:
    rule = {
        "condition_key": "route",
        "value_match": "high",
        "action": "INSERT_AFTER_CURRENT",
        "steps_to_insert": [{"name": "Manual_Review", "type": "HUMAN_IN_LOOP"}],
    }
    other = {"condition_key": "amount", "value_is_not": [0, 1], "steps_to_insert": [step("Audit")]}
    parsed = parse(definition(injecting([rule, other]), step("Done")))
    evaluate = parsed.steps[0]
    assert [s.name for s in evaluate.injected_steps] == ["Manual_Review", "Audit"]
    high, not_small = evaluate.dynamic_injection.rules  # type: ignore[union-attr]
    assert high.matches("high") and not high.matches("low")
    assert not_small.matches(5) and not not_small.matches(1)


def test_inserted_steps_are_checked_like_file_steps(tmp_path: Path) -> None:
    rules = [
        {"condition_key": "route", "value_match": "x", "steps_to_insert": [{"name": "Done"}]},
        {"condition_key": "route", "steps_to_insert": [step("Other")]},
        {
            "condition_key": "route",
            "value_match": 1,
            "steps_to_insert": [
                step(
                    "Deep",
                    dynamic_injection={
                        "rules": [
                            {
                                "condition_key": "a",
                                "value_match": 1,
                                "steps_to_insert": [step("Deeper")],
                            }
                        ]
                    },
                )
            ],
        },
    ]
    text = problems_of(definition(injecting(rules), step("Done")), tmp_path)
    assert "needs exactly one of 'value_match' and 'value_is_not'" in text
    raw = definition(injecting([rules[0], rules[2]]), step("Done"))
    text = problems_of(raw, tmp_path)
    assert "STANDARD step 'Done' has no 'function'" in text
    assert "step name 'Done' is used twice" in text
    assert "inserted steps cannot insert more" in text


def test_inserted_step_functions_are_imported_at_load(tmp_path: Path) -> None:
    rule = {
        "condition_key": "route",
        "value_match": 1,
        "steps_to_insert": [{"name": "X", "function": f"{KIT}.missing"}],
    }
    assert f"{KIT}.missing' cannot be imported" in problems_of(
        definition(injecting([rule])), tmp_path
    )


# -- FIRE_AND_FORGET ----------------------------------------------------------------------------
def test_fire_and_forget_is_a_fire_and_forget_sub_workflow() -> None:
    spawn = {
        "name": "Send_Email",
        "type": "FIRE_AND_FORGET",
        "target_workflow_type": "EmailDelivery",
        "initial_data_template": {
            "recipient": "{{ state.order_id }}",
            "subject": "Order Confirmation",
        },
    }
    [parsed] = parse(definition(spawn)).steps
    assert isinstance(parsed, SubWorkflowStep)
    assert (parsed.workflow_type, parsed.mode) == ("EmailDelivery", SubWorkflowMode.FIRE_AND_FORGET)
    assert parsed.initial_data == {"subject": "Order Confirmation"}
    assert parsed.input_mapping == {"recipient": "state.order_id"}


def test_a_template_mixed_into_text_is_refused(tmp_path: Path) -> None:
    spawn = {
        "name": "Spawn",
        "type": "fire_and_forget",
        "target_workflow_type": "Forms",
        "initial_data_template": {"name": "report_{{ state.order_id }}"},
    }
    assert "mixes text and a template" in problems_of(definition(spawn), tmp_path)


def test_an_unknown_type_still_lists_the_valid_ones(tmp_path: Path) -> None:
    text = problems_of(definition({"name": "S", "type": "CRON_SCHEDULE"}), tmp_path)
    assert "unknown type 'CRON_SCHEDULE'" in text and "FIRE_AND_FORGET" in text


# -- builtins.dict state ------------------------------------------------------------------------
async def test_a_dict_state_takes_any_field_and_reads_like_a_dict() -> None:
    from ruvon.testing import TestHarness

    raw = {
        "workflow_type": "Hello",
        "initial_state_model": "builtins.dict",
        "steps": [
            {
                "name": "Greet",
                "type": "DECISION",
                "function": f"{KIT}.greet",
                "automate_next": True,
                "routes": [
                    {"condition": "state.count > 1", "target": "Again"},
                    {"default": "Done"},
                ],
            },
            {"name": "Again", "function": f"{KIT}.greet"},
            {"name": "Done", "function": f"{KIT}.greet"},
        ],
    }
    async with TestHarness(definitions=(raw,)) as harness:
        workflow = await harness.start_workflow("Hello", {"name": "Alice", "count": 0})
        assert await harness.run(workflow) == "COMPLETED"
        state = workflow.state
        assert state.get("greeting") == "Hello, Alice!" and state["count"] == 2  # type: ignore[attr-defined]
        assert "name" in state and state.get("missing", 7) == 7  # type: ignore[operator,attr-defined]
        assert harness.step_path(workflow) == ["Greet", "Done"]
        reloaded = await harness.load_workflow(workflow.id)
        assert reloaded.state.model_dump() == {
            "name": "Alice",
            "count": 2,
            "greeting": "Hello, Alice!",
        }
        with pytest.raises(KeyError):
            _ = state["nope"]  # type: ignore[index]


def _injection_workflow() -> dict[str, Any]:
    review = {"name": "Manual_Review", "type": "HUMAN_IN_LOOP", "automate_next": True}
    audit = step("Audit", automate_next=True, function=f"{KIT}.charge")
    rules = [
        {"condition_key": "route", "value_match": "high", "steps_to_insert": [review]},
        {"condition_key": "state.amount", "value_is_not": [0], "steps_to_insert": [audit]},
    ]
    return definition(
        step("Evaluate", automate_next=True, dynamic_injection={"rules": rules}),
        step("Done", function=f"{KIT}.ship"),
    )


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"route": "low", "amount": 0}, ["Evaluate", "Done"]),
        ({"route": "low", "amount": 5}, ["Evaluate", "Audit", "Done"]),
        ({"route": "high", "amount": 0}, ["Evaluate", "Manual_Review", "Done"]),
        ({"route": "high", "amount": 5}, ["Evaluate", "Manual_Review", "Audit", "Done"]),
    ],
)
async def test_dynamic_injection_inserts_the_steps_of_matching_rules(
    data: dict[str, Any], path: list[str]
) -> None:
    from ruvon.testing import TestHarness

    async with TestHarness(definitions=(_injection_workflow(),)) as harness:
        workflow = await harness.start_workflow("Forms", data)
        status = await harness.run(workflow, {"Manual_Review": {"reviewer": "kim"}})
        assert status == "COMPLETED"
        assert harness.step_path(workflow) == path
        assert workflow.state.shipped and workflow.state.charged == ("Audit" in path)


def test_dynamic_injection_inside_a_loop_body_is_refused(tmp_path: Path) -> None:
    rule = {"condition_key": "route", "value_match": 1, "steps_to_insert": [step("X")]}
    body = [step("Inner", dynamic_injection={"rules": [rule]})]
    loop = {"name": "L", "type": "LOOP", "iterate_over": "log", "loop_body": body}
    assert "top-level steps only" in problems_of(definition(loop), tmp_path)


async def test_automate_start_runs_a_step_without_a_call() -> None:
    from ruvon.testing import TestHarness

    raw = definition(
        step("Validate", automate_start=True),
        step("Charge", function=f"{KIT}.charge"),
        step("Ship", function=f"{KIT}.ship", automate_start=True),
    )
    async with TestHarness(definitions=(raw,)) as harness:
        workflow = await harness.start_workflow("Forms")
        # The first step started on creation; Charge waits for a call (no automate_next, no start).
        assert harness.step_path(workflow) == ["Validate"]
        assert workflow.current_step_name == "Charge"
        await harness.next_step(workflow)
        # Ship starts by itself after Charge.
        assert harness.step_path(workflow) == ["Validate", "Charge", "Ship"]
        assert workflow.status == "COMPLETED"
