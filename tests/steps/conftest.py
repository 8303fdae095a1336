"""Fixtures for the step-type tests: a store per persistence provider and a workflow factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import steps_kit
from steps_env import Env

from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider


@pytest.fixture(autouse=True)
def _reset_kit() -> Iterator[None]:
    steps_kit.reset()
    yield
    steps_kit.reset()


@pytest.fixture(params=["memory", "sqlite"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    """An Env on the in-memory store and on SQLite."""
    config = tmp_path / "config"
    config.mkdir()
    kind = str(request.param)
    store: PersistenceProvider = (
        InMemoryPersistenceProvider()
        if kind == "memory"
        else SQLitePersistenceProvider(tmp_path / "ruvon.db")
    )
    await store.initialize()
    yield Env(config, store, kind)
    await store.close()
