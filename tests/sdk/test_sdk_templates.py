"""``{{ env.X }}`` and ``{{ secrets.X }}`` read only the names a deployer allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sdk_harness_kit as kit
import yaml

from ruvon.template_names import referenced
from ruvon.testing import TestHarness


def _fetch(url: str, **headers: str) -> dict[str, Any]:
    fetch = {
        "name": "Fetch",
        "type": "HTTP",
        "http_config": {"url": url, "headers": headers, "retry_policy": {"max_attempts": 1}},
        "output_key": "quote",
    }
    return kit.order_definition(saga_mode=False, steps=[fetch])


async def _run(harness: TestHarness) -> Any:
    harness.mock_http("Fetch", {"price": 3})
    workflow = await harness.start_workflow("HarnessOrder")
    await harness.run(workflow)
    return workflow


async def test_allowed_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUVON_TEMPLATE_ENV_ALLOW", "SHOP_URL, OTHER")
    monkeypatch.setenv("RUVON_TEMPLATE_SECRETS_ALLOW", "SHOP_TOKEN")
    monkeypatch.setenv("SHOP_URL", "https://shop.example")
    monkeypatch.setenv("SHOP_TOKEN", "s3cret")
    definition = _fetch(
        "{{ env.SHOP_URL }}/quotes", Authorization="Bearer {{ secrets['SHOP_TOKEN'] }}"
    )
    async with TestHarness(definitions=(definition,)) as harness:
        workflow = await _run(harness)
        assert workflow.status == "COMPLETED" and workflow.state.quote == {"price": 3}
        [call] = harness.http_calls
        assert call.url == "https://shop.example/quotes"
        assert call.headers["authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{{ env.HOME }}/x", "env.HOME, which is not allowed (allowed: SHOP_URL)"),
        (
            "https://x/{{ secrets.SHOP_URL }}",
            "secrets.SHOP_URL, which is not allowed (allowed: none)",
        ),
        ("https://x/{{ env }}", "env.<all>, which is not allowed"),
        ("https://x/{{ env[state.order_id] }}", "env.<computed>, which is not allowed"),
    ],
)
async def test_any_other_name_fails_the_step_naming_it(
    monkeypatch: pytest.MonkeyPatch, template: str, named: str
) -> None:
    monkeypatch.setenv("RUVON_TEMPLATE_ENV_ALLOW", "SHOP_URL")
    monkeypatch.delenv("RUVON_TEMPLATE_SECRETS_ALLOW", raising=False)
    async with TestHarness(definitions=(_fetch(template),)) as harness:
        workflow = await _run(harness)
        assert workflow.status == "FAILED"
        assert named in (workflow.error or "") and "_allow:" in (workflow.error or "")
        assert harness.http_calls == []  # nothing was sent


async def test_an_allowed_but_unset_name_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUVON_TEMPLATE_ENV_ALLOW", "NOT_SET_ANYWHERE")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    async with TestHarness(definitions=(_fetch("{{ env.NOT_SET_ANYWHERE }}/x"),)) as harness:
        workflow = await _run(harness)
        assert "environment variable NOT_SET_ANYWHERE is not set" in (workflow.error or "")


async def test_a_registry_file_allows_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RUVON_TEMPLATE_ENV_ALLOW", raising=False)
    monkeypatch.setenv("SHOP_URL", "https://shop.example")
    (tmp_path / "order.yaml").write_text(yaml.safe_dump(_fetch("{{ env.SHOP_URL }}/q")), "utf-8")
    registry = {
        "workflows": [{"type": "HarnessOrder", "config_file": "order.yaml"}],
        "env_allow": ["SHOP_URL"],
    }
    (tmp_path / "workflow_registry.yaml").write_text(yaml.safe_dump(registry), "utf-8")
    async with TestHarness(tmp_path) as harness:
        workflow = await _run(harness)
        assert workflow.status == "COMPLETED"
        assert harness.http_calls[0].url == "https://shop.example/q"


def test_referenced_finds_attribute_and_item_reads() -> None:
    found = referenced("{{ env.A }}-{{ secrets['B'] }}-{{ state.env }}-{% if env.C %}x{% endif %}")
    assert sorted(found) == [("env", "A"), ("env", "C"), ("secrets", "B")]
    assert referenced("{{ state.order_id }}") == []
