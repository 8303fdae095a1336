"""Observers switched on by environment variables, for ``ruvon run`` / ``ruvon serve`` and scripts.

``RUVON_OTEL=1`` adds an :class:`~ruvon.observability.otel.OpenTelemetryObserver` using the globally
configured tracer provider (or, with ``RUVON_OTEL_FILE=path``, one that appends spans to that file
as JSON lines). ``RUVON_METRICS=1`` adds the process-wide
:class:`~ruvon.observability.metrics.PrometheusObserver` (rendered by ``metrics.render_latest()``).
The builder applies them to every workflow it creates or loads, next to the observer it was given.
"""

from __future__ import annotations

from ruvon.envvars import env_get
from ruvon.providers.observer import WorkflowObserver

OTEL_ENV = "RUVON_OTEL"
OTEL_FILE_ENV = "RUVON_OTEL_FILE"
METRICS_ENV = "RUVON_METRICS"

_cache: tuple[tuple[str, str, str], list[WorkflowObserver]] | None = None


def _on(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_observers() -> list[WorkflowObserver]:
    """The observers the environment asks for (the same objects while it does not change)."""
    global _cache
    key = (env_get(OTEL_ENV), env_get(OTEL_FILE_ENV), env_get(METRICS_ENV))
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    made: list[WorkflowObserver] = []
    if _on(key[0]) or key[1]:
        from ruvon.observability import otel

        otel.configure_from_env()
        made.append(otel.OpenTelemetryObserver())
    if _on(key[2]):
        from ruvon.observability import metrics as prom

        made.append(prom.default_observer())
    _cache = (key, made)
    return made


def env_observer(given: WorkflowObserver | None) -> WorkflowObserver | None:
    """``given`` plus the observers the environment asks for (``given`` alone when none)."""
    extra = env_observers()
    if not extra:
        return given
    from ruvon.observability.composite import CompositeObserver

    return CompositeObserver([given, *extra] if given is not None else extra)
