"""WorkflowTestHarness: one workflow of one definition, driven and inspected from a test."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ruvon.models import WorkflowStatus
from ruvon.testing.clock import FakeClock
from ruvon.testing.doubles import HarnessError, HttpReply, StepMock
from ruvon.testing.harness import ClosesOnExit, TestHarness
from ruvon.workflow import Workflow


class WorkflowTestHarness(ClosesOnExit):
    """Test one workflow: mock its steps, run it, give it input, look at its state and path.

    The workflow is created on first use (``start()``, ``next_step``, ``run_all_steps``), so mocks
    set right after construction apply to it.

    Args:
        definition: A definition as data (a dict shaped like the YAML), the path of a YAML file, or
            the workflow type of a definition found in ``config_dir``.
        initial_data: The initial state data.
        config_dir: Where to find definitions by type (and child workflows' definitions).
        clock: The harness's clock (default a new FakeClock).
        allow_network: Let unmocked HTTP steps really send requests.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        definition: Mapping[str, Any] | str | Path,
        initial_data: Mapping[str, Any] | None = None,
        *,
        config_dir: str | Path | None = None,
        clock: FakeClock | None = None,
        allow_network: bool = False,
    ) -> None:
        self.harness = TestHarness(config_dir, clock=clock, allow_network=allow_network)
        if isinstance(definition, Mapping) or Path(definition).suffix in (".yaml", ".yml"):
            self.workflow_type = self.harness.add_definition(definition)
        else:
            self.workflow_type = str(definition)
        self.initial_data = dict(initial_data or {})
        self._workflow: Workflow | None = None

    @classmethod
    def from_yaml(
        cls, path: str | Path, initial_data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> WorkflowTestHarness:
        """A harness for the definition in the YAML file ``path``."""
        return cls(Path(path), initial_data, **kwargs)

    # -- mocks (see TestHarness) -----------------------------------------------------------------
    def mock_step(
        self,
        name: str,
        returns: Mapping[str, Any] | None = None,
        *,
        raises: BaseException | None = None,
        function: Callable[..., Any] | None = None,
    ) -> StepMock:
        """Replace step (or task) ``name``'s function; see ``TestHarness.mock_step``."""
        self._before_start("mock_step")
        return self.harness.mock_step(name, returns, raises=raises, function=function)

    def mock_compensation(
        self,
        name: str,
        returns: Mapping[str, Any] | None = None,
        *,
        raises: BaseException | None = None,
        function: Callable[..., Any] | None = None,
    ) -> StepMock:
        """Replace step ``name``'s compensation; see ``TestHarness.mock_compensation``."""
        self._before_start("mock_compensation")
        return self.harness.mock_compensation(name, returns, raises=raises, function=function)

    def mock_http(self, step_name: str, json: Any = None, **kwargs: Any) -> HttpReply:
        """Answer HTTP step ``step_name``; see ``TestHarness.mock_http``."""
        return self.harness.mock_http(step_name, json, **kwargs)

    def get_compensation_log(self) -> list[str]:
        """Names of the steps whose mocked compensation ran, in order."""
        return self.harness.compensation_log()

    def _before_start(self, what: str) -> None:
        if self._workflow is not None:
            raise HarnessError(
                f"{what}() after the workflow started has no effect on it; set mocks before the "
                f"first start(), next_step() or run_all_steps()."
            )

    # -- running ---------------------------------------------------------------------------------
    async def start(self) -> Workflow:
        """Create the workflow (once) and return it."""
        if self._workflow is None:
            self._workflow = await self.harness.start_workflow(
                self.workflow_type, self.initial_data
            )
        return self._workflow

    async def next_step(self, user_input: Any = None) -> Any:
        """Run the next step (and following ``automate_next`` ones); return the last result."""
        return await self.harness.next_step(await self.start(), user_input)

    async def run_all_steps(self, input_data_per_step: Mapping[str, Any] | None = None) -> Workflow:
        """Run until the workflow ends or waits for input not in ``input_data_per_step``.

        ``input_data_per_step`` maps the name of the step that waits to the input it gets (see
        ``TestHarness.run``).
        """
        workflow = await self.start()
        await self.harness.run(workflow, input_data_per_step)
        return workflow

    async def provide_input(self, user_input: Mapping[str, Any]) -> Any:
        """Give human input to the waiting workflow and run on; return the last step's result."""
        workflow = await self.start()
        if workflow.status is not WorkflowStatus.WAITING_HUMAN:
            raise HarnessError(
                f"The workflow is {workflow.status.value}, not WAITING_HUMAN; there is nothing to "
                f"give input to. Run it to a HUMAN_IN_LOOP step or a pause first."
            )
        return await self.next_step(user_input)

    # -- inspection ------------------------------------------------------------------------------
    @property
    def workflow(self) -> Workflow:
        """The workflow (after ``start()``)."""
        if self._workflow is None:
            raise HarnessError(
                "The workflow has not been created yet; await harness.start() (or next_step() / "
                "run_all_steps()) first."
            )
        return self._workflow

    @property
    def current_state(self) -> BaseModel:
        """The workflow's state model."""
        return self.workflow.state

    @property
    def current_status(self) -> WorkflowStatus:
        """The workflow's status."""
        return self.workflow.status

    @property
    def workflow_id(self) -> str:
        """The workflow's id."""
        return self.workflow.id

    @property
    def clock(self) -> FakeClock:
        """The harness's fake clock."""
        return self.harness.clock

    @property
    def step_path(self) -> list[str]:
        """Names of the steps finished so far, in order."""
        return self.harness.step_path(self.workflow)

    @property
    def calls(self) -> list[Any]:
        """Calls of mocked steps, in order."""
        return self.harness.calls

    async def close(self) -> None:
        """Close the harness's store and executor."""
        await self.harness.close()
