"""OpenTelemetry tracing of workflows: one trace per workflow, a span per step and per task.

Needs ``pip install 'ruvon[otel]'``. Spans go to the tracer provider given, else the globally
configured one (``opentelemetry.trace.set_tracer_provider`` or ``opentelemetry-instrument``)::

    from ruvon.observability.otel import OpenTelemetryObserver
    wf = await builder.create_workflow("Orders", workflow_observer=OpenTelemetryObserver())

The trace of a workflow begins when it is created: a short root span ``workflow <type>`` whose
context is saved in the workflow's engine record (``engine.trace``, W3C ``traceparent``). Every
process that later drives the workflow (a resume, a serving worker) parents its step spans on that
saved context, so one workflow is one trace however many processes ran it. Step spans are the
current span while the step runs: spans the step's own code makes nest under it, and the Celery
executor sends the step's context to its workers (see :func:`inject` and :func:`worker_spans`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ruvon.errors import ConfigurationError
from ruvon.providers.observer import WorkflowObserver

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        "ruvon.observability.otel needs the OpenTelemetry API and SDK, which are not installed. "
        "Install them with: pip install 'ruvon[otel]'."
    ) from exc

TRACER_NAME = "ruvon"
#: How many workflows (and open step spans) an observer remembers; the oldest are forgotten.
MAX_TRACKED = 10_000
#: Longest error text put on a span.
MAX_ERROR = 2000
_W3C = TraceContextTextMapPropagator()


def _tracer(provider: Any = None) -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME, tracer_provider=provider)


@dataclass(slots=True)
class _OpenStep:
    span: Span
    token: Any
    step: str
    started_ns: int


class OpenTelemetryObserver(WorkflowObserver):
    """Emits OpenTelemetry spans for workflows, steps and PARALLEL tasks.

    Spans and attributes:

    - ``workflow <type>``: the trace's root, made when the workflow is created (a child of the
      current span then, e.g. the parent's step for a sub-workflow); ``ruvon.workflow.id``,
      ``ruvon.workflow.type``, ``ruvon.workflow.version``.
    - ``step <name>``: one per run of a step; ``ruvon.step``, ``ruvon.step.index``,
      ``ruvon.step.status`` (COMPLETED, FAILED, WAITING_HUMAN, ...); a failure sets the span's
      status to ERROR with the message, as ``ruvon.error`` and as an ``exception`` event.
    - ``task <name>``: one per PARALLEL task, a child of its step; ``ruvon.task``,
      ``ruvon.task.status``; timed from the task's reported duration.
    - ``workflow <type> completed|failed``: a short span marking the end, status ERROR on failure.

    Args:
        tracer_provider: Where spans go; default the global tracer provider.
        max_tracked: Workflows remembered at once (bounded memory for long-running servers).
    """

    reads_state_only = True  # never changes the state it is given

    def __init__(self, tracer_provider: Any = None, *, max_tracked: int = MAX_TRACKED) -> None:
        self.tracer = _tracer(tracer_provider)
        self.max_tracked = max_tracked
        self._roots: OrderedDict[str, tuple[otel_context.Context, str]] = OrderedDict()
        self._steps: dict[str, _OpenStep] = {}
        self._lock = threading.Lock()

    # -- the trace's root --------------------------------------------------------------------------
    def attach(self, workflow: Any) -> None:
        """Continue the trace saved with ``workflow``, or begin one and save it in its record."""
        carrier = workflow.engine.trace
        parent = _W3C.extract(carrier) if carrier else None
        if parent is None or not trace.get_current_span(parent).get_span_context().is_valid:
            root = self.tracer.start_span(
                f"workflow {workflow.workflow_type}",
                kind=SpanKind.INTERNAL,
                attributes={
                    "ruvon.workflow.id": workflow.id,
                    "ruvon.workflow.type": workflow.workflow_type,
                    "ruvon.workflow.version": str(workflow.workflow_version),
                    **(
                        {"ruvon.workflow.parent_id": workflow.parent_id}
                        if workflow.parent_id
                        else {}
                    ),
                },
            )
            root.end()
            parent = trace.set_span_in_context(root, otel_context.Context())
            fresh: dict[str, str] = {}
            _W3C.inject(fresh, context=parent)
            workflow.engine.trace = fresh  # saved with the workflow's next (first) save
        self._remember(workflow.id, parent, workflow.workflow_type)

    def _remember(self, workflow_id: str, parent: otel_context.Context, workflow_type: str) -> None:
        with self._lock:
            self._roots[workflow_id] = (parent, workflow_type)
            self._roots.move_to_end(workflow_id)
            while len(self._roots) > self.max_tracked:
                self._roots.popitem(last=False)

    def _root(self, workflow_id: str) -> tuple[otel_context.Context | None, str]:
        with self._lock:
            return self._roots.get(workflow_id, (None, ""))

    # -- steps -------------------------------------------------------------------------------------
    async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
        self._close_step(workflow_id, "INTERRUPTED", None)
        parent, workflow_type = self._root(workflow_id)
        span = self.tracer.start_span(
            f"step {step_name}",
            context=parent,
            attributes={
                "ruvon.workflow.id": workflow_id,
                "ruvon.workflow.type": workflow_type,
                "ruvon.step": step_name,
                "ruvon.step.index": step_index,
            },
        )
        # The step's span is current while it runs: the step's own spans and the Celery messages
        # it sends (see inject) join the workflow's trace under it.
        token = otel_context.attach(trace.set_span_in_context(span))
        with self._lock:
            self._steps[workflow_id] = _OpenStep(span, token, step_name, time.time_ns())
            if len(self._steps) > self.max_tracked:  # never expected: steps end or fail
                self._steps.pop(next(iter(self._steps)))

    async def on_step_executed(
        self,
        workflow_id: str,
        step_name: str,
        step_index: int,
        status: str,
        result: Any,
        current_state: dict[str, Any],
    ) -> None:
        self._close_step(workflow_id, status, None)

    async def on_step_failed(self, workflow_id: str, step_name: str, error: str) -> None:
        self._close_step(workflow_id, "FAILED", error)

    async def on_workflow_status_changed(
        self, workflow_id: str, old_status: str, new_status: str, current_step_name: str | None
    ) -> None:
        if new_status != "ACTIVE":  # the step waits (human, async, child) or was cancelled
            self._close_step(workflow_id, new_status, None)

    def _close_step(self, workflow_id: str, status: str, error: str | None) -> None:
        with self._lock:
            open_step = self._steps.pop(workflow_id, None)
        if open_step is None:
            return
        span = open_step.span
        span.set_attribute("ruvon.step.status", status)
        if error is not None:  # success leaves the status UNSET, as OpenTelemetry advises
            _record_error(span, error)
        span.end()
        otel_context.detach(open_step.token)  # logs (never raises) if out of order

    # -- PARALLEL tasks ----------------------------------------------------------------------------
    async def on_task_completed(
        self, workflow_id: str, step_name: str, task_name: str, duration: float
    ) -> None:
        end = time.time_ns()
        self._task_span(workflow_id, step_name, task_name, end - int(duration * 1e9), end, None)

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        with self._lock:
            open_step = self._steps.get(workflow_id)
        end = time.time_ns()
        start = open_step.started_ns if open_step is not None else end
        self._task_span(workflow_id, step_name, task_name, start, end, error)

    def _task_span(
        self, workflow_id: str, step: str, task: str, start: int, end: int, error: str | None
    ) -> None:
        with self._lock:
            open_step = self._steps.get(workflow_id)
        if open_step is not None and open_step.step == step:
            parent: otel_context.Context | None = trace.set_span_in_context(open_step.span)
        else:
            parent = self._root(workflow_id)[0]
        span = self.tracer.start_span(
            f"task {task}",
            context=parent,
            start_time=start,
            attributes={
                "ruvon.workflow.id": workflow_id,
                "ruvon.workflow.type": self._root(workflow_id)[1],
                "ruvon.step": step,
                "ruvon.task": task,
                "ruvon.task.status": "FAILED" if error is not None else "COMPLETED",
            },
        )
        if error is not None:
            _record_error(span, error)
        span.end(end_time=end)

    # -- the end -----------------------------------------------------------------------------------
    async def on_workflow_completed(
        self, workflow_id: str, workflow_type: str, final_state: dict[str, Any]
    ) -> None:
        self._end(workflow_id, workflow_type, "COMPLETED", None)

    async def on_workflow_failed(
        self,
        workflow_id: str,
        workflow_type: str,
        error_message: str,
        current_state: dict[str, Any],
    ) -> None:
        self._end(workflow_id, workflow_type, "FAILED", error_message)

    def _end(self, workflow_id: str, workflow_type: str, status: str, error: str | None) -> None:
        self._close_step(workflow_id, status, error)
        with self._lock:
            parent = self._roots.pop(workflow_id, (None, ""))[0]
        span = self.tracer.start_span(
            f"workflow {workflow_type} {status.lower()}",
            context=parent,
            attributes={
                "ruvon.workflow.id": workflow_id,
                "ruvon.workflow.type": workflow_type,
                "ruvon.workflow.status": status,
            },
        )
        if error is not None:
            _record_error(span, error)
        span.end()


def _record_error(span: Span, error: str) -> None:
    text = error[:MAX_ERROR]
    span.set_attribute("ruvon.error", text)
    span.set_status(Status(StatusCode.ERROR, text))
    span.add_event("exception", {"exception.message": text})


# -- propagation into Celery workers ---------------------------------------------------------------
def inject() -> dict[str, str]:
    """The current span's context as W3C headers (``{}`` when no span is current)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        _W3C.inject(carrier)
    return carrier


@contextmanager
def worker_spans(message: Mapping[str, Any]) -> Iterator[Any]:
    """On a Celery worker: a span for the chunk, child of the step span whose context it carries.

    Yields a function ``task_span(name)`` (a context manager) for each task the chunk runs. Nothing
    is recorded when the message carries no context or no tracer provider is configured.
    """
    carrier = message.get("trace")
    parent = _W3C.extract(carrier) if isinstance(carrier, Mapping) and carrier else None
    if parent is None or not trace.get_current_span(parent).get_span_context().is_valid:
        yield _no_task_span
        return
    tracer = _tracer()
    step = str(message.get("step_name", ""))
    base = {
        "ruvon.workflow.id": str(message.get("workflow_id", "")),
        "ruvon.workflow.type": str(message.get("workflow_type", "")),
        "ruvon.step": step,
    }
    with tracer.start_as_current_span(
        f"celery {step}", context=parent, kind=SpanKind.CONSUMER, attributes=base
    ):

        @contextmanager
        def task_span(name: str) -> Iterator[Span]:
            with tracer.start_as_current_span(
                f"run {name}", attributes={**base, "ruvon.task": name}
            ) as span:
                yield span

        yield task_span


@contextmanager
def _no_task_span(name: str) -> Iterator[None]:
    yield None


def end_task_span(span: Any, error: str | None) -> None:
    """Mark a worker task span with the task's outcome (``span`` may be ``None``)."""
    if span is None:
        return
    span.set_attribute("ruvon.task.status", "FAILED" if error else "COMPLETED")
    if error:
        _record_error(span, error)


# -- a simple exporter: spans as JSON lines --------------------------------------------------------
_configured: str | None = None


def configure_from_env() -> None:
    """With ``$RUVON_OTEL_FILE`` set, install a global SDK tracer provider appending to that file.

    Each finished span becomes one JSON line (see :class:`JsonLinesExporter`). Meant for workers
    and quick looks; production setups configure their own provider and exporter (OTLP).
    """
    global _configured
    path = os.environ.get("RUVON_OTEL_FILE", "")
    if not path or _configured == path:
        return
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    trace.set_tracer_provider(provider)
    _configured = path


def _exporter_base() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter

    return SpanExporter


class JsonLinesExporter(_exporter_base()):  # type: ignore[misc]
    """An SDK span exporter appending one JSON object per span to a file.

    Keys: ``name``, ``trace_id``, ``span_id``, ``parent_id`` (hex, or ``None``), ``start``/``end``
    (ns), ``status``, ``attributes``. The file is opened per batch, so forked processes can share it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = [json.dumps(_span_dict(s), default=str) + "\n" for s in spans]
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write("".join(lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


def _span_dict(span: Any) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent is not None else None,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }
