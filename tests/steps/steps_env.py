"""Env: a config directory and a store to build step-type workflows on (used by the tests)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow


class Env:
    """Writes definitions into one config directory and builds workflows on one store."""

    def __init__(self, config: Path, store: PersistenceProvider, kind: str) -> None:
        self.config = config
        self.store = store
        self.kind = kind
        self.executor: ExecutionProvider = SyncExecutor()

    def write(self, name: str, text: str) -> Path:
        path = self.config / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def builder(self, *texts: str, **kwargs: Any) -> WorkflowBuilder:
        """A builder over ``texts`` (written as wf0.yaml, wf1.yaml, ...)."""
        for i, text in enumerate(texts):
            self.write(f"wf{i}.yaml", text)
        return WorkflowBuilder(config_dir=self.config, **kwargs)

    async def start(
        self, *texts: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> Workflow:
        """Create a workflow of the first text's workflow_type."""
        builder = self.builder(*texts, **kwargs)
        workflow_type = yaml.safe_load(textwrap.dedent(texts[0]))["workflow_type"]
        return await builder.create_workflow(
            workflow_type,
            persistence_provider=self.store,
            execution_provider=self.executor,
            initial_data=data or {},
        )

    async def reload(self, workflow: Workflow) -> Workflow:
        """The workflow as a fresh builder loads it from the store."""
        return await WorkflowBuilder(config_dir=self.config).load_workflow(
            workflow.id, persistence_provider=self.store, execution_provider=self.executor
        )
