"""Templates: rendered over plain data in a bounded immutable sandbox (issue 9, item 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from security_kit import CPU_BOUND, MEMORY_BOUND, Order, gadget, measure

from ruvon.errors import StepFailed, TemplateError
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine
from ruvon.step_models import HttpStep
from ruvon.steps.http import render_request

ESCAPES = [
    "{{ state.__class__.__subclasses__() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ state.name.format(state) }}",
    "{{ '{0.__class__}'.format(state) }}",
    "{{ '{x.__init__.__globals__}'.format_map({'x': state}) }}",
    "{{ state|attr('__class__') }}",
    "{{ state.name|attr('format') }}",
    "{{ self.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ state.items.append(1) }}",
    "{{ state.update({'amount': 0}) }}",
    "{{ state.pop('amount') }}",
    "{{ state.name.encode() }}",
    "{{ state.model_dump() }}",
    "{{ state.model_fields }}",
    "{{ lipsum.__globals__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
]

BOMBS = [
    ("{{ 'a' * 10**9 }}", "repeats a str"),
    ("{{ 9**3999999 }}", "wider than"),
    ("{{ 10**1000 * 10**1000 * 10**1000 * 10**1000 * 10**1000 }}", "wider than"),
    ("{{ range(10**9)|list }}", "Range too big"),
    ("{{ '%0999999999d' % 1 }}", "formats a string"),
    ("{{ '{0:>999999999}'.format(1) }}", "format"),
    ("{{ 'a'.center(10**9) }}", "center"),
    ("{{ 'a'|center(10**9) }}", "center"),
    ("{{ 'a\\nb'|indent(10**9) }}", "indent"),
    ("{{ [1]|batch(10**9, 'x')|list }}", "batch"),
    ("{{ lipsum(10**9) }}", "lipsum"),
    ("{{ [[1] * 1000] * 1000|sum(start=[]) }}", "sum"),
    ("{{ 5|round(-999999999) }}", "round"),
    ("{{ state.text|replace('', 'x' * 40) }}", "replace"),
    ("{{ ([state.text] * 50)|join('-') }}", "characters"),
    ("{{ [state.text] * 50 }}", "characters in all"),
    ("{{ state|tojson(indent=10**9) }}", "indents"),
    ("{% set a = [state.text] * 9 %}{% set b = [a, a, a, a, a] %}{{ b ~ '' }}", "concatenation"),
    ("{% set a = [state.text] * 9 %}{% set b = [a, a, a, a, a] %}{{ b }}", "printing"),
    ("{% for a in state.big %}{% for b in state.big %}{% endfor %}{% endfor %}", "work|longer"),
    ("{% for i in range(100000) %}{{ state.text }}{% endfor %}", "output|work|longer"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "."),
]


@pytest.fixture
def engine() -> Jinja2TemplateEngine:
    return Jinja2TemplateEngine({"state": Order(big=list(range(10_000)), text="t" * 30_000)})


def test_the_pydantic_gadget_in_an_http_url_fails_before_any_request(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    step = HttpStep.model_validate(
        {
            "name": "Call",
            "type": "HTTP",
            "url": "https://example.invalid/{{ " + gadget(canary) + " }}",
        }
    )
    engine = Jinja2TemplateEngine({"state": Order()})
    with pytest.raises(StepFailed, match="template of 'url' failed"):
        render_request(step, engine, "probe.yaml, step 'Call'", "Call")
    assert not canary.exists()


@pytest.mark.parametrize("template", ESCAPES)
def test_escape_attempts_are_refused(engine: Jinja2TemplateEngine, template: str) -> None:
    measured = measure(lambda: engine.render(template))
    assert isinstance(measured.error, TemplateError), (template, measured.result)
    assert measured.cpu_seconds < CPU_BOUND


@pytest.mark.parametrize(("template", "why"), BOMBS, ids=[b[0][:40] for b in BOMBS])
def test_bombs_are_refused_before_they_are_built(
    engine: Jinja2TemplateEngine, template: str, why: str
) -> None:
    measured = measure(lambda: engine.render(template))
    assert isinstance(measured.error, TemplateError), (template, str(measured.result)[:80])
    assert re.search(why, str(measured.error)), str(measured.error)
    assert measured.cpu_seconds < CPU_BOUND, measured.cpu_seconds
    assert measured.peak_bytes < MEMORY_BOUND, measured.peak_bytes


def test_templates_cannot_mutate_the_state() -> None:
    state = Order(items=[1, 2])
    data = {"inner": {"k": 1}, "xs": [1]}
    engine = Jinja2TemplateEngine({"state": state, "data": data})
    for template in ("{{ state.items.append(3) }}", "{{ data.inner.update({'k': 2}) }}"):
        with pytest.raises(TemplateError):
            engine.render(template)
    assert state.items == [1, 2] and data == {"inner": {"k": 1}, "xs": [1]}


def test_templates_read_plain_data() -> None:
    engine = Jinja2TemplateEngine({"state": Order(items=[1, 2], name="Ann"), "item": {"id": 7}})
    assert engine.render("{{ state.items }}") == "[1, 2]"  # the field, not dict.items
    assert engine.render("/{{ state.name|lower }}/{{ item.id }}") == "/ann/7"
    assert engine.render("{{ state.items|join(',') }}-{{ state.items|sum }}") == "1,2-3"
    assert engine.render("{% for i in state.items %}{{ i * 2 }}{% endfor %}") == "24"
    assert engine.render("{{ state.get('missing', 'd') ~ '!' }}") == "d!"
    assert engine.render('{{ {"n": state.amount}|tojson }}') == '{"n": 5}'


def test_a_live_object_in_the_context_is_refused() -> None:
    with pytest.raises(TemplateError, match="no plain-data form"):
        Jinja2TemplateEngine({"thing": object()}).render("{{ thing }}")
