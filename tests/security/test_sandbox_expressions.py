"""Expressions: nothing but a value computed from plain data, within the bounds (issue 9, item 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from security_kit import CPU_BOUND, MEMORY_BOUND, Order, gadget, measure

from ruvon.errors import ExpressionError
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.sandbox import limits

ESCAPES = [
    # method calls on values
    "state.name.format(state)",
    "'{0.__class__.__mro__}'.format(state)",
    "'{x.__init__.__globals__}'.format_map({'x': state})",
    "state.items.append(1) or False",
    "state.items.pop()",
    "state.items.clear() or True",
    "{}.setdefault('a', 1)",
    "state.copy()",
    "state.update({'amount': 0}) or True",
    "state.name.encode()",
    "state.name.center(10)",
    "state.model_dump()",
    "state.model_fields['amount'].annotation",
    "state.model_validate({})",
    # builtins and attribute walks
    "getattr(state, 'amount')",
    "__import__('os').system('true')",
    "open('/etc/passwd').read()",
    "eval('1')",
    "exec('x = 1')",
    "type(state)",
    "vars()",
    "globals()",
    "compile('1', 'f', 'eval')",
    "len.__self__",
    "(1).real",
    "'a'.upper",
    "state.get",
    # dunders
    "state.__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "state.__dict__",
    "[].__class__.__mro__",
    "state['__class__']",
    # syntax the sandbox does not allow
    "(lambda: 1)()",
    "[x := 1]",
    "f'{state}'",
    "f'{1:>999999999}'",
    "*state.items",
    "max(state.items, key=abs)",
    "state.items[0:2:1].__len__()",
    "...",
    "b'bytes'",
    "1j",
    "(yield 1)",
    "(await state)",
]


@pytest.fixture
def evaluator() -> SimpleExpressionEvaluator:
    return SimpleExpressionEvaluator({"state": Order(big=list(range(100_000)), text="t" * 100_000)})


def test_the_pydantic_gadget_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    expression = gadget(canary)
    evaluator = SimpleExpressionEvaluator({"state": Order()})
    with pytest.raises(ExpressionError, match="not allowed"):
        evaluator.check(expression)
    with pytest.raises(ExpressionError):
        evaluator.evaluate(expression)
    assert not canary.exists()


@pytest.mark.parametrize("expression", ESCAPES)
def test_escape_attempts_are_refused(evaluator: SimpleExpressionEvaluator, expression: str) -> None:
    measured = measure(lambda: evaluator.evaluate(expression))
    assert isinstance(measured.error, ExpressionError), (expression, measured.result)
    assert measured.cpu_seconds < CPU_BOUND


@pytest.mark.parametrize(
    "expression",
    [
        e
        for e in ESCAPES
        if e
        not in (
            "state.get",
            "(1).real",
            "'a'.upper",
            "state['__class__']",
            "state.model_fields['amount'].annotation",
        )
    ],
)
def test_escape_attempts_are_refused_statically(expression: str) -> None:
    """``check`` (what ``ruvon validate`` runs) refuses them without any state."""
    with pytest.raises(ExpressionError):
        SimpleExpressionEvaluator().check(expression)


def test_expressions_cannot_mutate_the_state() -> None:
    state = Order(items=[1, 2])
    plain = {"items": [1, 2], "inner": {"k": 1}}
    evaluator = SimpleExpressionEvaluator({"state": state, "data": plain})
    for expression in (
        "state.items.append(1) or False",
        "data.inner.update({'k': 2})",
        "data.items.extend([3])",
    ):
        with pytest.raises(ExpressionError):
            evaluator.evaluate(expression)
    assert state.items == [1, 2] and plain == {"items": [1, 2], "inner": {"k": 1}}


BOMBS = [
    ("9**3999999 * 9**3999999 > 0", "power wider than"),
    ("10**1000 * 10**1000 * 10**1000 * 10**1000 * 10**1000", "wider than"),
    ("2**4000 * 2**4000", "wider than"),
    ("1 << 10**9", "shifts"),
    ("'a' * 10**9", "repeats a str"),
    ("[0] * 10**9", "repeats a list"),
    ("[state.text] * 100000", "characters in all"),
    ("state.text + state.text", "concatenates"),
    ("str([state.text] * 50)", "str()"),
    ("state.text.replace('', 'xx')", "replace()"),
    ("'-'.join([state.text] * 20)", "join()"),
    ("round(5, -10**9)", "round()"),
    ("int('9' * 100000)", "int()"),
    ("sum([[1]] * 1000, [])", "failed"),
    ("[x for x in state.big for y in state.big]", "units of work|longer than"),
    ("len([[y for y in state.big] for x in state.big])", "units of work|longer than"),
    ("any(x == y for x in state.big for y in state.big)", "units of work|longer than"),
    ("{x: [x] * 90000 for x in state.big}", "units of work|longer than"),
    ("'%0999999999d' % 1", "formats a string"),
    ("(" * 500 + "1" + ")" * 500, "nest"),
    ("-" * 5000 + "1", "nest"),
    ("1 + " * 5000 + "1", "longer than|nest"),
]


@pytest.mark.parametrize(("expression", "why"), BOMBS, ids=[b[0][:40] for b in BOMBS])
def test_bombs_are_refused_before_they_are_built(
    evaluator: SimpleExpressionEvaluator, expression: str, why: str
) -> None:
    measured = measure(lambda: evaluator.evaluate(expression))
    assert isinstance(measured.error, ExpressionError), (expression, measured.result)
    assert re.search(why, str(measured.error)), str(measured.error)
    assert measured.cpu_seconds < CPU_BOUND, measured.cpu_seconds
    assert measured.peak_bytes < MEMORY_BOUND, measured.peak_bytes


def test_a_live_object_in_the_context_is_refused_not_exposed() -> None:
    evaluator = SimpleExpressionEvaluator({"state": {"thing": object()}})
    with pytest.raises(ExpressionError, match="no plain-data form"):
        evaluator.evaluate("state.thing is None")


def test_values_are_read_as_plain_data() -> None:
    state = Order(items=[3, 1, 2], name="Ann")
    evaluator = SimpleExpressionEvaluator({"state": state})
    assert evaluator.evaluate("state.items") == [3, 1, 2]  # the field, not dict.items
    assert evaluator.evaluate("state.name.lower().startswith('a')") is True
    assert evaluator.evaluate("state.get('missing', 7) + len(state.items)") == 10
    assert evaluator.evaluate("sorted_ok if False else max(state.items)") == 3
    assert evaluator.evaluate("[i * 2 for i in state.items if i > 1]") == [6, 4]
    assert evaluator.evaluate("{k: v for k, v in {'a': 1}.items()}") == {"a": 1}
    assert evaluator.evaluate("round(sum(state.items) / 4, 2)") == 1.5
    assert evaluator.evaluate("state.tier in ['gold', 'silver'] and not state.amount < 0") is True


def test_the_bounds_are_the_documented_values() -> None:
    """docs/security.md lists these; a change must change the document too."""
    assert (limits.MAX_INT_BITS, limits.MAX_LENGTH, limits.MAX_PRINTED) == (
        4096,
        100_000,
        1_000_000,
    )
    assert (limits.MAX_WORK, limits.MAX_SECONDS, limits.MAX_SOURCE, limits.MAX_DEPTH) == (
        1_000_000,
        0.5,
        10_000,
        64,
    )
