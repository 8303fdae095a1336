"""Prometheus metrics of workflows: counters and histograms from an observer, gauges from the store.

Needs ``pip install 'ruvon[metrics]'``. Everything lives on ruvon's own
:data:`REGISTRY` (not prometheus_client's global one) unless another registry is given::

    from ruvon.observability import metrics
    observer = metrics.PrometheusObserver()            # pass it as workflow_observer
    metrics.register_runtime_collector(persistence)   # active leases and queue depth
    body, content_type = metrics.render_latest()       # what GET /metrics answers

Labels are bounded: workflow type, step, task (with a dynamic fan-out's ``[i]`` index removed) and
status; never workflow ids.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruvon.errors import ConfigurationError
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import PersistenceProvider

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
    from prometheus_client import generate_latest as _generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigurationError(
        "ruvon.observability.metrics needs prometheus-client, which is not installed. "
        "Install it with: pip install 'ruvon[metrics]'."
    ) from exc

_log = logging.getLogger("ruvon.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
"""Ruvon's registry: :func:`render_latest` renders it by default."""

#: Step and task durations: from a millisecond to an hour.
DEFAULT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: How many workflows an observer remembers the type and running step of.
MAX_TRACKED = 10_000
_INDEX = re.compile(r"\[\d+\]$")


@dataclass(slots=True, frozen=True)
class _Metrics:
    started: Counter
    completed: Counter
    failed: Counter
    steps: Histogram
    tasks: Histogram


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def _metrics(registry: CollectorRegistry, buckets: tuple[float, ...]) -> _Metrics:
    """The metric objects of ``registry`` (made once; observers on one registry share them)."""
    with _registry_lock:
        found = _by_registry.get(registry)
        if found is None:
            by_type = ["workflow_type"]
            found = _Metrics(
                Counter(
                    "ruvon_workflows_started",
                    "Workflows created.",
                    by_type,
                    registry=registry,
                ),
                Counter(
                    "ruvon_workflows_completed",
                    "Workflows that ran their last step.",
                    by_type,
                    registry=registry,
                ),
                Counter(
                    "ruvon_workflows_failed",
                    "Workflows that ended FAILED (or rolled back).",
                    by_type,
                    registry=registry,
                ),
                Histogram(
                    "ruvon_step_duration_seconds",
                    "Time a step ran, by how it ended (COMPLETED, FAILED, WAITING_HUMAN, ...).",
                    ["workflow_type", "step", "status"],
                    registry=registry,
                    buckets=buckets,
                ),
                Histogram(
                    "ruvon_parallel_task_duration_seconds",
                    "Time a PARALLEL task ran (failed tasks: from their step's start).",
                    ["workflow_type", "step", "task", "status"],
                    registry=registry,
                    buckets=buckets,
                ),
            )
            _by_registry[registry] = found
        return found


class PrometheusObserver(WorkflowObserver):
    """Counts workflows and times steps and PARALLEL tasks into Prometheus metrics.

    Metrics (labels):

    - ``ruvon_workflows_started_total``, ``ruvon_workflows_completed_total``,
      ``ruvon_workflows_failed_total`` (``workflow_type``).
    - ``ruvon_step_duration_seconds`` histogram (``workflow_type``, ``step``, ``status``).
    - ``ruvon_parallel_task_duration_seconds`` histogram (``workflow_type``, ``step``, ``task``,
      ``status``).

    Args:
        registry: Where the metrics live; default :data:`REGISTRY`. Observers given the same
            registry share its metrics.
        buckets: Histogram buckets in seconds (used by the first observer of a registry).
    """

    reads_state_only = True  # never changes the state it is given

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        self.registry = registry if registry is not None else REGISTRY
        self._m = _metrics(self.registry, buckets)
        self._types: OrderedDict[str, str] = OrderedDict()
        self._steps: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def attach(self, workflow: Any) -> None:
        self._remember(workflow.id, workflow.workflow_type)

    def _remember(self, workflow_id: str, workflow_type: str) -> None:
        with self._lock:
            self._types[workflow_id] = workflow_type
            self._types.move_to_end(workflow_id)
            while len(self._types) > MAX_TRACKED:
                self._types.popitem(last=False)

    def _type(self, workflow_id: str) -> str:
        return self._types.get(workflow_id, "unknown")

    async def on_workflow_started(
        self, workflow_id: str, workflow_type: str, initial_state: dict[str, Any]
    ) -> None:
        self._remember(workflow_id, workflow_type)
        self._m.started.labels(workflow_type).inc()

    async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
        with self._lock:
            self._steps[workflow_id] = (step_name, time.perf_counter())
            if len(self._steps) > MAX_TRACKED:
                self._steps.pop(next(iter(self._steps)))

    def _step_ended(self, workflow_id: str, status: str) -> None:
        with self._lock:
            running = self._steps.pop(workflow_id, None)
        if running is not None:
            step, began = running
            self._m.steps.labels(self._type(workflow_id), step, status).observe(
                time.perf_counter() - began
            )

    async def on_step_executed(
        self,
        workflow_id: str,
        step_name: str,
        step_index: int,
        status: str,
        result: Any,
        current_state: dict[str, Any],
    ) -> None:
        self._step_ended(workflow_id, status)

    async def on_step_failed(self, workflow_id: str, step_name: str, error: str) -> None:
        self._step_ended(workflow_id, "FAILED")

    async def on_workflow_status_changed(
        self, workflow_id: str, old_status: str, new_status: str, current_step_name: str | None
    ) -> None:
        if new_status != "ACTIVE":
            self._step_ended(workflow_id, new_status)

    async def on_task_completed(
        self, workflow_id: str, step_name: str, task_name: str, duration: float
    ) -> None:
        self._m.tasks.labels(
            self._type(workflow_id), step_name, _INDEX.sub("", task_name), "COMPLETED"
        ).observe(duration)

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        with self._lock:
            running = self._steps.get(workflow_id)
        duration = time.perf_counter() - running[1] if running is not None else 0.0
        self._m.tasks.labels(
            self._type(workflow_id), step_name, _INDEX.sub("", task_name), "FAILED"
        ).observe(duration)

    async def on_workflow_completed(
        self, workflow_id: str, workflow_type: str, final_state: dict[str, Any]
    ) -> None:
        self._m.completed.labels(workflow_type).inc()
        self._forget(workflow_id)

    async def on_workflow_failed(
        self,
        workflow_id: str,
        workflow_type: str,
        error_message: str,
        current_state: dict[str, Any],
    ) -> None:
        self._m.failed.labels(workflow_type).inc()
        self._forget(workflow_id)

    def _forget(self, workflow_id: str) -> None:
        with self._lock:
            self._types.pop(workflow_id, None)
            self._steps.pop(workflow_id, None)


_default: PrometheusObserver | None = None


def default_observer() -> PrometheusObserver:
    """The process-wide observer on :data:`REGISTRY` (what ``RUVON_METRICS=1`` adds)."""
    global _default
    if _default is None:
        _default = PrometheusObserver()
    return _default


# -- gauges read from the store at scrape time ------------------------------------------------------
#: A count is not taken past this many rows (a scrape's cost stays bounded); the gauge then shows it.
MAX_COUNT = 100_000
_RUNNABLE_STATUSES = "status IN ('ACTIVE', 'WAITING_HUMAN', 'PENDING_SUB_WORKFLOW')"


@dataclass(slots=True, frozen=True)
class RuntimeCounts:
    """Active leases (held, not expired) and queue depth (workflows waiting for a serving worker)."""

    active_leases: int
    queue_depth: int


def _count_sql(max_count: int) -> str:
    # Both counts use the runtime's partial indexes and stop at max_count rows.
    return (
        "SELECT "
        "(SELECT COUNT(*) FROM (SELECT 1 FROM workflows WHERE owner IS NOT NULL "
        f"AND lease_expires_at > %s LIMIT {max_count}) AS leases), "
        f"(SELECT COUNT(*) FROM (SELECT 1 FROM workflows WHERE {_RUNNABLE_STATUSES} "
        "AND (status = 'ACTIVE' OR pending_input IS NOT NULL) "
        "AND ((owner IS NULL AND (queued_at IS NOT NULL OR pending_input IS NOT NULL)) "
        f"OR lease_expires_at < %s) LIMIT {max_count}) AS queued)"
    )


def runtime_counts(
    persistence: PersistenceProvider, *, max_count: int = MAX_COUNT, timeout: float = 2.0
) -> RuntimeCounts:
    """Count active leases and queued workflows now, synchronously (safe from any thread).

    SQLite uses the provider's connection under its lock; PostgreSQL opens a short connection with
    a statement timeout of ``timeout`` seconds; the in-memory provider counts its lease slots.

    Raises:
        ConfigurationError: The provider is of a kind this function cannot read.
    """
    now = time.time()
    kind = type(persistence).__name__
    if kind == "SQLitePersistenceProvider":
        sql = _count_sql(max_count).replace("%s", "?")
        with persistence._lock:  # type: ignore[attr-defined]
            row = persistence._connection().execute(sql, (now, now)).fetchone()  # type: ignore[attr-defined]
        return RuntimeCounts(int(row[0]), int(row[1]))
    if kind == "PostgresPersistenceProvider":
        import psycopg

        with psycopg.connect(
            persistence.dsn,  # type: ignore[attr-defined]
            autocommit=True,
            connect_timeout=max(1, int(timeout)),
        ) as conn:
            conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            found = conn.execute(_count_sql(max_count), (now, now)).fetchone()
        assert found is not None
        return RuntimeCounts(int(found[0]), int(found[1]))
    if kind == "InMemoryPersistenceProvider":
        return _memory_counts(persistence, now)
    raise ConfigurationError(
        f"runtime_counts() cannot read leases from a {kind}; it reads SQLite, PostgreSQL and "
        f"in-memory stores. Register the runtime collector only for those."
    )


def _memory_counts(persistence: PersistenceProvider, now: float) -> RuntimeCounts:
    from ruvon.runtime.leases import lease_store_for

    store: Any = lease_store_for(persistence)
    leases = queued = 0
    with persistence._lock:  # type: ignore[attr-defined]
        records = persistence._workflows  # type: ignore[attr-defined]
        for workflow_id, slot in list(getattr(store, "_slots", {}).items()):
            record = records.get(workflow_id)
            if record is None:
                continue
            if slot.owner is not None and slot.expires_at > now:
                leases += 1
            waiting = slot.pending_input is not None and record.status in (
                "WAITING_HUMAN",
                "PENDING_SUB_WORKFLOW",
            )
            free = slot.owner is None and (slot.queued or slot.pending_input is not None)
            expired = slot.owner is not None and slot.expires_at < now
            if (record.status == "ACTIVE" or waiting) and (free or expired):
                queued += 1
    return RuntimeCounts(leases, queued)


class RuntimeCollector(Collector):
    """A collector reading ``ruvon_active_leases`` and ``ruvon_queue_depth`` at each scrape.

    One bounded query per scrape (see :func:`runtime_counts`). When it fails, the gauges are left
    out, ``ruvon_runtime_up`` is 0 and the error is logged.
    """

    def __init__(
        self, persistence: PersistenceProvider, *, max_count: int = MAX_COUNT, timeout: float = 2.0
    ) -> None:
        self.persistence = persistence
        self.max_count = max_count
        self.timeout = timeout

    def describe(self) -> list[Any]:
        return []  # values come from the store; nothing to check at registration

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "ruvon_runtime_up", "1 when the last read of leases and queue depth worked."
        )
        try:
            counts = runtime_counts(
                self.persistence, max_count=self.max_count, timeout=self.timeout
            )
        except Exception as exc:
            _log.warning("reading leases and queue depth for /metrics failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "ruvon_active_leases",
            "Workflows a driver holds an unexpired lease on (running now).",
            value=counts.active_leases,
        )
        yield GaugeMetricFamily(
            "ruvon_queue_depth",
            "Workflows a serving worker could claim now (queued, woken, or with an expired lease).",
            value=counts.queue_depth,
        )


_collectors: weakref.WeakKeyDictionary[CollectorRegistry, RuntimeCollector] = (
    weakref.WeakKeyDictionary()
)


def register_runtime_collector(
    persistence: PersistenceProvider,
    registry: CollectorRegistry | None = None,
    **options: Any,
) -> RuntimeCollector:
    """Register a :class:`RuntimeCollector` for ``persistence`` (replacing an earlier one)."""
    target = registry if registry is not None else REGISTRY
    collector = RuntimeCollector(persistence, **options)
    with _registry_lock:
        old = _collectors.pop(target, None)
        if old is not None:
            target.unregister(old)
        target.register(collector)
        _collectors[target] = collector
    return collector


def render_latest(registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and the content type to answer with.

    Synchronous and possibly blocking for a few milliseconds (the runtime gauges query the store):
    an async server should call it from a thread (FastAPI does for a plain ``def`` endpoint).
    """
    return _generate_latest(registry if registry is not None else REGISTRY), CONTENT_TYPE_LATEST
