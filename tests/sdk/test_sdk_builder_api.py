"""The WorkflowBuilder API of the SDK's reference page: providers, registry path, configs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sdk_harness_kit as kit
import yaml

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConfigurationError, DefinitionError, WorkflowNotFound
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.observer import WorkflowObserver


class Events(WorkflowObserver):
    def __init__(self) -> None:
        self.started: list[str] = []

    async def on_workflow_started(
        self, workflow_id: str, workflow_type: str, initial_state: dict[str, object]
    ) -> None:
        self.started.append(workflow_type)


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    (config / "order.yaml").write_text(yaml.safe_dump(kit.order_definition()), "utf-8")
    return config


async def test_builder_providers_serve_create_and_load(tmp_path: Path) -> None:
    store = SQLitePersistenceProvider(db_path=tmp_path / "ruvon.db")
    executor, events = SyncExecutor(), Events()
    builder = WorkflowBuilder(
        config_dir=_config(tmp_path),
        persistence_provider=store,
        execution_provider=executor,
        observer=events,
    )
    workflow = await builder.create_workflow("HarnessOrder", {"amount": 4})  # dict positional
    assert workflow.persistence is store and workflow.execution_provider is executor
    assert events.started == ["HarnessOrder"] and workflow.state.amount == 4
    await workflow.next_step()
    # A second builder on the same database reloads it (its id given as a UUID, as the SDK shows).
    other = WorkflowBuilder(
        config_dir=tmp_path / "config",
        persistence_provider=SQLitePersistenceProvider(db_path=tmp_path / "ruvon.db"),
    )
    loaded = await other.load_workflow(uuid.UUID(workflow.id))
    assert loaded.status == "COMPLETED" and loaded.state.shipped
    await store.close()
    await other.load_workflow(workflow.id)  # still there after the first store closed


async def test_initial_data_given_twice_is_refused(tmp_path: Path) -> None:
    builder = WorkflowBuilder(config_dir=_config(tmp_path))
    with pytest.raises(ConfigurationError, match="twice"):
        await builder.create_workflow("HarnessOrder", {"amount": 1}, initial_data={"amount": 2})


async def test_load_workflow_without_a_store_says_how_to_give_one(tmp_path: Path) -> None:
    builder = WorkflowBuilder(config_dir=_config(tmp_path))
    with pytest.raises(WorkflowNotFound, match=r"WorkflowBuilder\(persistence_provider="):
        await builder.load_workflow("no-such-id")


def test_registry_path_and_load_workflow_config(tmp_path: Path) -> None:
    config = _config(tmp_path)
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        yaml.safe_dump(
            {"workflows": [{"type": "HarnessOrder", "config_file": str(config / "order.yaml")}]}
        ),
        "utf-8",
    )
    builder = WorkflowBuilder(registry_path=registry, config_dir=tmp_path / "empty")
    assert builder.list_available_workflows() == ["HarnessOrder"]
    config_dict = builder.get_workflow_config("HarnessOrder")
    assert config_dict["workflow_version"] == "1.0"
    assert [s["name"] for s in config_dict["steps"]] == ["Validate", "Charge", "Ship"]
    config_dict["steps"].clear()  # a copy: the builder's definition is untouched
    assert len(builder.get_workflow_config("HarnessOrder")["steps"]) == 3

    fresh = WorkflowBuilder(config_dir=tmp_path / "empty")
    fresh.load_workflow_config("HarnessOrder", str(config / "order.yaml"))
    assert fresh.list_available_workflows() == ["HarnessOrder"]
    with pytest.raises(DefinitionError, match="defines workflow_type 'HarnessOrder'"):
        fresh.load_workflow_config("Other", config / "order.yaml")
    with pytest.raises(WorkflowNotFound):
        fresh.get_workflow_config("Nope")


def test_evaluator_and_engine_may_be_instances(tmp_path: Path) -> None:
    builder = WorkflowBuilder(
        config_dir=tmp_path, expression_evaluator=SimpleExpressionEvaluator({})
    )
    assert builder.expression_evaluator_cls is SimpleExpressionEvaluator


async def test_owner_keys_are_stored_and_listable(tmp_path: Path) -> None:
    store = SQLitePersistenceProvider(db_path=tmp_path / "ruvon.db")
    builder = WorkflowBuilder(config_dir=_config(tmp_path), persistence_provider=store)
    first = await builder.create_workflow(
        "HarnessOrder", {"amount": 1}, owner_id="tenant-a", org_id="acme", priority=5
    )
    await builder.create_workflow("HarnessOrder", owner_id="tenant-b", data_region="eu")
    await builder.create_workflow("HarnessOrder")
    reloaded = await builder.load_workflow(first.id)
    assert (reloaded.owner_id, reloaded.org_id, reloaded.priority) == ("tenant-a", "acme", 5)
    assert reloaded.to_dict()["owner_id"] == "tenant-a" and reloaded.data_region is None
    mine = await builder.list_workflows(owner_id="tenant-a")
    assert [r.id for r in mine] == [first.id]
    assert len(await builder.list_workflows(org_id="acme", priority=5)) == 1
    assert await builder.list_workflows(owner_id="tenant-a", priority=1) == []
    assert len(await builder.list_workflows()) == 3
    await store.close()


def test_postgres_provider_takes_the_sdk_argument_names() -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(
        db_url="postgresql://u@127.0.0.1/test", pool_min_size=2, pool_max_size=4
    )
    assert (store.dsn, store.min_size, store.max_size) == ("postgresql://u@127.0.0.1/test", 2, 4)
    assert PostgresPersistenceProvider("postgresql://x/y").max_size == 10
    with pytest.raises(ConfigurationError, match="both dsn and db_url"):
        PostgresPersistenceProvider("postgresql://a/b", db_url="postgresql://c/d")
    with pytest.raises(ConfigurationError, match="needs a connection string"):
        PostgresPersistenceProvider()
    with pytest.raises(ConfigurationError, match="min_size=5, max_size=4"):
        PostgresPersistenceProvider(db_url="postgresql://a/b", pool_min_size=5, pool_max_size=4)
