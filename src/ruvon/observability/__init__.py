"""Metrics and tracing for ruvon workflows: Prometheus (``metrics``) and OpenTelemetry (``otel``).

Both need optional packages (``pip install 'ruvon[metrics]'`` / ``'ruvon[otel]'``) and are imported
only when used; this package itself imports nothing beyond the core. See docs/observability.md.
"""

from __future__ import annotations

from ruvon.observability.composite import CompositeObserver
from ruvon.observability.env import env_observer

__all__ = ["CompositeObserver", "env_observer"]
