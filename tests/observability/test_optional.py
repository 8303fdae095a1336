"""The core works without the optional packages: nothing imports them until asked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"


def test_the_core_and_a_celery_worker_chunk_run_without_opentelemetry_or_prometheus(
    tmp_path: Path,
) -> None:
    (tmp_path / "workflow.yaml").write_text(
        'workflow_type: "W"\ninitial_state_model: "core_kit.State"\n'
        'steps:\n  - name: "One"\n    function: "core_kit.increment"\n',
        encoding="utf-8",
    )
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        for name in ("opentelemetry", "prometheus_client"):
            sys.modules[name] = None  # importing them now fails, as if not installed
        sys.path.insert(0, {str(CORE)!r})
        import ruvon.observability
        from ruvon.builder import WorkflowBuilder
        from ruvon.errors import ConfigurationError

        async def main():
            wf = await WorkflowBuilder(config_dir={str(tmp_path)!r}).create_workflow("W")
            await wf.run_to_completion()
            assert wf.status == "COMPLETED" and wf.engine.trace == {{}}

        asyncio.run(main())
        try:
            import ruvon.observability.otel
        except ConfigurationError as exc:
            assert "pip install 'ruvon[otel]'" in str(exc)
        else:
            raise AssertionError("otel imported without OpenTelemetry")
        try:
            import ruvon.observability.metrics
        except ConfigurationError as exc:
            assert "pip install 'ruvon[metrics]'" in str(exc)
        else:
            raise AssertionError("metrics imported without prometheus-client")
        from ruvon.implementations.execution.celery_worker import _traced
        with _traced({{"trace": {{"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}}}}) as span:
            with span("t") as inner:
                assert inner is None
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "ok"
    assert "opentelemetry" not in done.stderr
