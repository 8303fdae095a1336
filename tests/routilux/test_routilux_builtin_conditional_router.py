"""ConditionalRouter, per the reference: every condition kind, and saving routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from routilux_builtin_kit import run_builtin
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import ConditionalRouter, Flow
from routilux.errors import DefinitionError, UnsafeRestoreError


def is_urgent(data: Any) -> bool:
    """A module-level condition (restorable only when its module is allowed)."""
    return bool(data.get("urgent"))


def test_signatures_and_defaults() -> None:
    assert_signature(ConditionalRouter.add_route, ("route_name", REQUIRED), ("condition", REQUIRED))
    assert_signature(ConditionalRouter.deserialize, ("data", REQUIRED), ("registry", None))
    router = ConditionalRouter()
    assert router.config() == {"routes": [], "default_route": None, "route_priority": "first_match"}
    assert list(router.slots) == ["input"] and list(router.events) == ["output"]
    router.add_route("high", {"priority": "high"})
    assert "high" in router.events


def test_each_condition_kind_routes() -> None:
    router = ConditionalRouter()
    router.set_config(threshold=10)
    router.add_route("callable", lambda x: x.get("kind") == "a")
    router.add_route(
        "with_config", lambda data, config: data.get("value", 0) > config["threshold"] * 2
    )
    router.add_route("fields", {"kind": "b", "value": lambda v: v > 0})
    # This string needs read-only .get on mappings, which the evaluator allows.
    router.add_route("expression", "data.get('value', 0) > config.get('threshold', 0)")
    assert run_builtin(router, "input", data={"kind": "a"})["callable"]
    assert run_builtin(router, "input", data={"kind": "z", "value": 25})["with_config"]
    assert run_builtin(router, "input", data={"kind": "b", "value": 1})["fields"]
    out = run_builtin(router, "input", data={"kind": "z", "value": 11})
    assert out["expression"] == [{"data": {"kind": "z", "value": 11}, "route": "expression"}]
    assert out["output"] == [] and out["callable"] == []
    unmatched = run_builtin(router, "input", data={"kind": "z", "value": 1})
    assert unmatched["output"] == [{"data": {"kind": "z", "value": 1}, "route": "unmatched"}]


def test_all_matches_and_default_route() -> None:
    router = ConditionalRouter()
    router.set_config(route_priority="all_matches", default_route="fallback")
    router.add_route("big", "data['n'] > 5")
    router.add_route("even", "data['n'] % 2 == 0")
    both = run_builtin(router, "input", data={"n": 8})
    assert len(both["big"]) == 1 and len(both["even"]) == 1
    assert run_builtin(router, "input", data={"n": 1})["fallback"][0]["route"] == "fallback"


def test_bad_expression_is_refused_when_added() -> None:
    router = ConditionalRouter()
    with pytest.raises(DefinitionError, match="'broken'"):
        router.add_route("broken", "data[")
    with pytest.raises(DefinitionError, match="'dunder'"):
        router.add_route("dunder", "data.__class__")


def test_routes_survive_serialize_and_lambdas_come_back_as_safe_expressions() -> None:
    router = ConditionalRouter()
    router.add_route("lam", lambda x: x.get("v", 0) > 3)
    router.add_route("dict", {"k": "x"})
    router.add_route("expr", "data['v'] < 0")
    router.add_route("fn", is_urgent)
    flow = Flow()
    flow.add_routine(router, "router")
    data = json.loads(json.dumps(flow.serialize()))
    routes = data["routines"]["router"]["_config"]["routes"]
    assert routes[0][1] == {
        "_type": "lambda_expression",
        "expression": "x.get('v', 0) > 3",
        "param": "x",
    }
    with pytest.raises(UnsafeRestoreError, match="is_urgent"):
        Flow().deserialize(data)
    restored = Flow().deserialize(data, allow_modules=[__name__])
    copy = restored.routines["router"]
    assert run_builtin(_detached(copy), "input", data={"v": 5})["lam"]
    assert run_builtin(_detached(copy), "input", data={"k": "x"})["dict"]
    assert run_builtin(_detached(copy), "input", data={"v": -1})["expr"]
    assert run_builtin(_detached(copy), "input", data={"urgent": True, "v": 0})["fn"]
    flow.shutdown()
    restored.shutdown()


def test_a_saved_lambda_that_is_not_a_safe_expression_is_refused_naming_the_route() -> None:
    router = ConditionalRouter()
    router.add_route("ok", "data['v'] > 1")
    data = router.serialize()
    for expression in ["__import__('os').system('echo hacked')", "x.__class__.__mro__",
                       "(lambda: 1)("]:  # fmt: skip
        data["_config"]["routes"] = [
            ["evil", {"_type": "lambda_expression", "expression": expression}]
        ]
        with pytest.raises(UnsafeRestoreError, match="'evil'"):
            ConditionalRouter().deserialize(data)


def _detached(router: Any) -> ConditionalRouter:
    """A fresh router with the restored routes (the restored one lives in another flow)."""
    copy = ConditionalRouter()
    copy.set_config(**router.config())
    return copy
