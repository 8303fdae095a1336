"""Program 1: a 0.10-style pipeline using every error strategy."""

from __future__ import annotations

from typing import Any

from serilux import register_serializable

from routilux import ErrorHandler, ErrorStrategy, Flow, JobState, Routine


@register_serializable
class ProgramOneSource(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.start)
        self.define_event("item", ["n"])

    def start(self, count: int = 3, **kwargs: Any) -> None:
        for n in range(count):
            self.emit("item", n=n)


@register_serializable
class ProgramOneStep(Routine):
    """Fails for the numbers in config ``bad`` until it has failed ``times`` times."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[int, int] = {}
        self.define_slot("in", handler=self.work)
        self.define_event("out", ["n"])
        self.set_config(bad=[], times=1_000)

    def work(self, n: int) -> None:
        if n in self.get_config("bad") and self.failures.get(n, 0) < self.get_config("times"):
            self.failures[n] = self.failures.get(n, 0) + 1
            raise ValueError(f"item {n} is bad")
        self.emit("out", n=n)


@register_serializable
class ProgramOneSink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[int] = []
        self.define_slot("in", handler=lambda n: self.got.append(n))


def pipeline(
    step: ProgramOneStep, flow_handler: ErrorHandler | None = None
) -> tuple[Flow, ProgramOneSink]:
    flow = Flow(execution_strategy="concurrent", max_workers=3)
    sink = ProgramOneSink()
    flow.add_routine(ProgramOneSource(), "source")
    flow.add_routine(step, "step")
    flow.add_routine(sink, "sink")
    flow.connect("source", "item", "step", "in")
    flow.connect("step", "out", "sink", "in")
    if flow_handler is not None:
        flow.set_error_handler(flow_handler)
    return flow, sink


def run(flow: Flow) -> JobState:
    job = flow.execute("source", entry_params={"count": 4})
    JobState.wait_for_completion(flow, job, timeout=10)
    flow.shutdown()
    return job


def test_optional_step_continues_and_records_the_error() -> None:
    step = ProgramOneStep()
    step.set_config(bad=[1])
    step.set_as_optional()
    flow, sink = pipeline(step)
    job = run(flow)
    assert job.status == "completed" and sorted(sink.got) == [0, 2, 3]
    errors = [r.data for r in job.get_execution_history("step") if r.event_name == "error"]
    assert [e["action"] for e in errors] == ["continue"] and "item 1 is bad" in errors[0]["error"]


def test_skip_from_the_flow_handler() -> None:
    step = ProgramOneStep()
    step.set_config(bad=[2])
    flow, sink = pipeline(step, ErrorHandler(strategy="skip"))
    job = run(flow)
    assert job.status == "completed" and sorted(sink.got) == [0, 1, 3]


def test_critical_step_retries_per_task_then_succeeds() -> None:
    step = ProgramOneStep()
    step.set_config(bad=[0, 3], times=2)
    step.set_as_critical(max_retries=2, retry_delay=0.01, retry_backoff=1.0)
    flow, sink = pipeline(step)
    job = run(flow)
    assert job.status == "completed" and sorted(sink.got) == [0, 1, 2, 3]
    assert step.failures == {0: 2, 3: 2}  # each task had its own two retries


def test_stop_fails_the_job_and_the_routine_handler_wins() -> None:
    step = ProgramOneStep()
    step.set_config(bad=[0])
    flow, _ = pipeline(step, ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    step.set_error_handler(ErrorHandler(strategy=ErrorStrategy.STOP))
    job = run(flow)
    assert job.status == "failed" and "item 0 is bad" in (job.error or "")


def test_entry_failure_is_final_when_execute_returns() -> None:
    class ProgramOneBrokenEntry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=self.start)

        def start(self, **kwargs: Any) -> None:
            raise RuntimeError("cannot start")

    flow = Flow()
    flow.add_routine(ProgramOneBrokenEntry(), "entry")
    job = flow.execute("entry")
    assert job.status == "failed"  # no waiting needed, as in 0.10
    flow.shutdown()
