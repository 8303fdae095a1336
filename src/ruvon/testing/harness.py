"""TestHarness and WorkflowTestHarness: run workflows in memory, with mocks, in a test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from unittest import mock

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime import clock
from ruvon.testing.clock import FakeClock
from ruvon.testing.doubles import (
    Call,
    HarnessError,
    HttpCall,
    HttpReply,
    StepMock,
    http_client_class,
    register_double,
)
from ruvon.testing.rewrite import child_types, rewrite, unknown_names, walk_steps
from ruvon.workflow import Workflow
from ruvon.yaml_source import read_yaml

_MOVING = frozenset({WorkflowStatus.ACTIVE, WorkflowStatus.PENDING_ASYNC})


class _PathRecorder(WorkflowObserver):
    """Records, per workflow, the steps that finished, in order; forwards every hook to the test's
    own observer, if it gave one."""

    def __init__(
        self, paths: dict[str, list[str]], forward: WorkflowObserver | None = None
    ) -> None:
        self.paths = paths
        self.forward = forward
        # It only reads the state; what it forwards to decides.
        self.reads_state_only = forward is None or forward.reads_state_only


def _forwarding(name: str) -> Any:
    async def hook(self: _PathRecorder, *args: Any, **kwargs: Any) -> None:
        if name == "on_step_executed":
            self.paths.setdefault(args[0], []).append(args[1])
        if self.forward is not None:
            await getattr(self.forward, name)(*args, **kwargs)

    hook.__name__ = name
    return hook


for _hook in [name for name in vars(WorkflowObserver) if name.startswith("on_")]:
    setattr(_PathRecorder, _hook, _forwarding(_hook))


class ClosesOnExit:
    """``async with harness:`` closes it at the end (its ``close()``)."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class TestHarness(ClosesOnExit):
    """Runs workflows in memory (in-memory store, steps in the test's thread) with mocks.

    Definitions come from ``config_dir`` (found as ``WorkflowBuilder`` finds them) and from
    ``add_definition``. Mocks replace a step's function, a compensation or an HTTP step's reply by
    name; they apply to workflows started after the mock is set.

    Args:
        config_dir: Where definitions live (default as for WorkflowBuilder: ``./config``).
        definitions: Definitions given as data (dicts) or YAML file paths.
        clock: The harness's clock (default a new FakeClock).
        execution_provider: Default SyncExecutor (deterministic order).
        persistence_provider: Default a fresh in-memory store.
        allow_network: Let HTTP steps without a mock really send their request (default False: such
            a request fails the step with a message saying how to mock it).
        parameters: Definition parameters, as for WorkflowBuilder.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        config_dir: str | Path | None = None,
        *,
        definitions: tuple[Mapping[str, Any] | str | Path, ...] = (),
        clock: FakeClock | None = None,
        execution_provider: ExecutionProvider | None = None,
        persistence_provider: PersistenceProvider | None = None,
        allow_network: bool = False,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.persistence = persistence_provider or InMemoryPersistenceProvider()
        self.executor = execution_provider or SyncExecutor()
        self.allow_network = allow_network
        self._source = WorkflowBuilder(config_dir=config_dir, parameters=parameters)
        # Holds the mocked copies; an empty registry keeps it from discovering files itself.
        self._builder = WorkflowBuilder({}, config_dir=config_dir, parameters=parameters)
        self._builder.template_names = self._source.template_names
        self._given: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, StepMock] = {}
        self._compensations: dict[str, StepMock] = {}
        self._replies: dict[str, HttpReply] = {}
        self._paths: dict[str, list[str]] = {}
        self._workflows: dict[str, Workflow] = {}
        #: Every call of a mocked step or task, in order.
        self.calls: list[Call] = []
        #: Every call of a mocked compensation, in order.
        self.compensation_calls: list[Call] = []
        #: Every request HTTP steps sent to the harness, in order.
        self.http_calls: list[HttpCall] = []
        for definition in definitions:
            self.add_definition(definition)

    # -- definitions and mocks -------------------------------------------------------------------
    def add_definition(self, definition: Mapping[str, Any] | str | Path) -> str:
        """Add a definition (a dict shaped like the YAML, or a YAML file); return its type."""
        raw = read_yaml(Path(definition)) if isinstance(definition, str | Path) else definition
        if not isinstance(raw, Mapping) or not isinstance(raw.get("workflow_type"), str):
            raise HarnessError(
                f"{definition!r} is not a workflow definition: it needs a 'workflow_type' string, "
                f"'initial_state_model' and 'steps'."
            )
        self._given[raw["workflow_type"]] = dict(raw)
        return str(raw["workflow_type"])

    def mock_step(
        self,
        name: str,
        returns: Mapping[str, Any] | None = None,
        *,
        raises: BaseException | None = None,
        function: Callable[..., Any] | None = None,
    ) -> StepMock:
        """Replace the function of step (or PARALLEL task) ``name``.

        The double returns ``returns`` (merged into the state as a step result is), raises
        ``raises``, or calls ``function(state, context, **kwargs)``. Its calls are recorded in
        ``mock.calls`` and ``harness.calls``.
        """
        self._steps[name] = StepMock(name, returns, raises, function)
        return self._steps[name]

    def mock_compensation(
        self,
        name: str,
        returns: Mapping[str, Any] | None = None,
        *,
        raises: BaseException | None = None,
        function: Callable[..., Any] | None = None,
    ) -> StepMock:
        """Replace the ``compensate_function`` of step ``name`` (calls go to compensation_calls)."""
        self._compensations[name] = StepMock(name, returns, raises, function)
        return self._compensations[name]

    def mock_http(
        self,
        step_name: str,
        json: Any = None,
        *,
        status: int = 200,
        text: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpReply:
        """Answer the requests of HTTP step ``step_name`` with this status and body.

        The step still renders its URL, headers and body from the state and checks the status;
        the request is recorded in ``harness.http_calls``.
        """
        reply = HttpReply(status, json, text, dict(headers or {}))
        self._replies[step_name] = reply
        return reply

    def reset_mocks(self) -> None:
        """Forget every mock and recorded call (workflows started later run the real code)."""
        self._steps.clear()
        self._compensations.clear()
        self._replies.clear()
        self.calls.clear()
        self.compensation_calls.clear()
        self.http_calls.clear()

    def compensation_log(self) -> list[str]:
        """Names of the steps whose mocked compensation ran, in order."""
        return [call.name for call in self.compensation_calls]

    # -- running ---------------------------------------------------------------------------------
    async def start_workflow(
        self, workflow_type: str, initial_data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Workflow:
        """Create a workflow of ``workflow_type`` with the current mocks; it has not run yet.

        Extra keyword arguments go to ``WorkflowBuilder.create_workflow``; a
        ``workflow_observer`` given there gets every event too.
        """
        self._prepare(workflow_type)
        observer = _PathRecorder(self._paths, kwargs.pop("workflow_observer", None))
        workflow = await self._builder.create_workflow(
            workflow_type,
            persistence_provider=self.persistence,
            execution_provider=self.executor,
            workflow_observer=observer,
            initial_data=initial_data,
            **kwargs,
        )
        self._workflows[workflow.id] = workflow
        return workflow

    async def load_workflow(self, workflow_id: str) -> Workflow:
        """Reload a workflow of this harness from its store (a new object, as another process would)."""
        return await self._builder.load_workflow(
            workflow_id,
            persistence_provider=self.persistence,
            execution_provider=self.executor,
            workflow_observer=_PathRecorder(self._paths),
        )

    async def next_step(self, workflow: Workflow | str, user_input: Any = None) -> Any:
        """Run the workflow's next step (and the following ones while ``automate_next``).

        Returns:
            What the last step run returned (as ``Workflow.next_step``'s first item).
        """
        target = self._workflow(workflow)
        with clock.use(self.clock):
            async with self._http():
                result, _ = await target.next_step(user_input=user_input)
        return result

    async def run(
        self,
        workflow: Workflow | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        max_steps: int = 1000,
    ) -> WorkflowStatus:
        """Drive the workflow until it ends or waits for input the test did not give.

        A SLEEPING workflow does not wait: the fake clock moves to its due time at once.

        Args:
            workflow: The workflow (or its id).
            inputs: Input per step: when the workflow waits at step ``S`` and ``inputs`` has ``S``,
                that input is given (a list gives one item per wait). The step that waits is
                ``workflow.current_step_name``.
            max_steps: Give up (HarnessError) after this many ``next_step`` calls.

        Returns:
            The workflow's status when it stopped.
        """
        target = self._workflow(workflow)
        queued = {
            name: list(v) if isinstance(v, list) else [v] for name, v in (inputs or {}).items()
        }
        for _ in range(max_steps):
            if target.status in _MOVING:
                await self.next_step(target)
                continue
            due = target.engine.wake_at
            if target.status is WorkflowStatus.SLEEPING and due is not None:
                self.clock.advance(max(due - self.clock.time(), 0.0))  # sleep takes no time
                await self.next_step(target)
                continue
            waiting = target.current_step_name
            if target.status is WorkflowStatus.WAITING_HUMAN and queued.get(waiting or ""):
                await self.next_step(target, queued[waiting or ""].pop(0))
                continue
            return target.status
        raise HarnessError(
            f"Workflow {target.id} ({target.workflow_type}) was still {target.status.value} at step "
            f"'{target.current_step_name}' after {max_steps} next_step calls; a route or loop may "
            f"never end. Pass max_steps=... if it really needs more."
        )

    def step_path(self, workflow: Workflow | str) -> list[str]:
        """Names of the steps the workflow finished, in order (a jump back repeats names)."""
        workflow_id = workflow if isinstance(workflow, str) else workflow.id
        return list(self._paths.get(workflow_id, []))

    def assert_step_path(self, workflow: Workflow | str, expected: list[str]) -> None:
        """Fail with both paths shown unless the workflow finished exactly ``expected``."""
        actual = self.step_path(workflow)
        if actual != expected:
            raise AssertionError(f"step path {actual} != expected {expected}")

    async def close(self) -> None:
        """Close the store and the executor."""
        await self.persistence.close()
        self.executor.close()

    # -- internals -------------------------------------------------------------------------------
    def _workflow(self, workflow: Workflow | str) -> Workflow:
        if isinstance(workflow, Workflow):
            self._workflows.setdefault(workflow.id, workflow)
            return workflow
        found = self._workflows.get(workflow)
        if found is None:
            raise HarnessError(
                f"No workflow with id {workflow} was started by this harness; use the id returned "
                f"by start_workflow, or load_workflow(id) for one in its store."
            )
        return found

    def _raw(self, workflow_type: str) -> dict[str, Any]:
        given = self._given.get(workflow_type)
        return given if given is not None else self._source.get_definition(workflow_type).raw

    def _family(self, workflow_type: str) -> list[str]:
        """``workflow_type`` and every type it may start as a child, children first."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            order.append(name)
            for child in child_types(self._raw(name)):
                visit(child)

        visit(workflow_type)
        return order[::-1]

    def _prepare(self, workflow_type: str) -> None:
        """Register ``workflow_type`` and its child types with the current mocks applied."""
        steps = {n: register_double(m, self.calls) for n, m in self._steps.items()}
        comps = {
            n: register_double(m, self.compensation_calls) for n, m in self._compensations.items()
        }
        names: set[str] = set()
        for name in self._family(workflow_type):
            raw = self._raw(name)
            for step in walk_steps(raw.get("steps")):
                names.add(str(step.get("name")))
                names |= {
                    str(t.get("name")) for t in step.get("tasks") or [] if isinstance(t, dict)
                }
            data, _ = rewrite(raw, steps=steps, compensations=comps)
            self._builder.register_definition(data, source=f"<{name} in the test harness>")
        mocked = set(self._steps) | set(self._compensations) | set(self._replies)
        unknown_names(mocked, names, lambda: f"workflow type '{workflow_type}' and its children")

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[None]:
        try:
            import httpx
        except ImportError:
            yield
            return
        client = http_client_class(self._replies, self.http_calls, self.allow_network)
        with mock.patch.object(httpx, "AsyncClient", client):
            yield
