"""Property tests: random expressions and templates fail only with ruvon's errors, within the bound."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_kit import CPU_BOUND, Order, measure

from ruvon.errors import ExpressionError, TemplateError
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine

_STATE = Order(big=list(range(5_000)), text="t" * 5_000, items=[3, 1, 2])
_EVALUATOR = SimpleExpressionEvaluator({"state": _STATE})
_ENGINE = Jinja2TemplateEngine({"state": _STATE})
_SETTINGS = settings(
    max_examples=150,
    deadline=None,  # the bound is checked on CPU time below, not on wall time
    suppress_health_check=[HealthCheck.too_slow],
)

ATOMS = st.sampled_from(
    [
        "state",
        "state.amount",
        "state.items",
        "state.name",
        "state.big",
        "state.text",
        "state.missing",
        "x",
        "0",
        "1",
        "-1",
        "9",
        "4096",
        "10**9",
        "2.5",
        "1e308",
        "'a'",
        "''",
        "'{0}'",
        "[]",
        "{}",
        "[1, 2]",
        "{'k': 1}",
        "None",
        "True",
        "__import__",
        "getattr",
    ]
)
BINARY = st.sampled_from([*"+ - * / // % ** << >> & | ^ == < >= in and or is".split(), "not in"])
CALLS = st.sampled_from(
    "len min max abs round sum any all int float str bool type eval open vars".split()
)
METHODS = st.sampled_from(
    "get keys items lower split replace join count index format append pop __class__ "
    "__subclasses__ mro center zfill".split()
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, BINARY, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "not ", "~"]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(CALLS, st.lists(children, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(children, METHODS, st.lists(children, max_size=2)).map(
            lambda t: f"{t[0]}.{t[1]}({', '.join(t[2])})"
        ),
        st.tuples(children, st.sampled_from(["amount", "items", "__class__", "real", "x"])).map(
            lambda t: f"{t[0]}.{t[1]}"
        ),
        st.tuples(children, children).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(children, children, children).map(
            lambda t: f"[{t[0]} for x in {t[1]} if {t[2]}]"
        ),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


EXPRESSIONS = st.recursive(ATOMS, _extend, max_leaves=10)


def _check(call: Any, allowed: type[Exception]) -> None:
    measured = measure(call)
    assert measured.error is None or isinstance(measured.error, allowed), repr(measured.error)
    assert measured.cpu_seconds < CPU_BOUND, measured.cpu_seconds


@_SETTINGS
@given(EXPRESSIONS)
def test_random_expressions_raise_only_expression_errors_within_the_bound(expression: str) -> None:
    _check(lambda: _EVALUATOR.evaluate(expression), ExpressionError)


@_SETTINGS
@given(st.text(max_size=80))
def test_random_text_as_an_expression_raises_only_expression_errors(text: str) -> None:
    _check(lambda: _EVALUATOR.evaluate(text), ExpressionError)
    _check(lambda: _EVALUATOR.check(text), ExpressionError)


@settings(_SETTINGS, max_examples=80)  # each example compiles three templates
@given(EXPRESSIONS, EXPRESSIONS)
def test_random_templates_raise_only_template_errors_within_the_bound(
    first: str, second: str
) -> None:
    first = first.replace(" is ", " == ").replace(" not in ", " in ")  # Jinja's own meanings
    second = second.replace(" is ", " == ").replace(" not in ", " in ")
    for template in (
        f"{{{{ {first} }}}}",
        f"{{% for x in {first} %}}{{{{ {second} ~ x }}}}{{% endfor %}}",
        f"{{% if {first} %}}{{{{ {second}|string }}}}{{% endif %}}",
    ):
        _check(lambda template=template: _ENGINE.render(template), TemplateError)
