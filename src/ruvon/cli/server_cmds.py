"""``ruvon serve --http``: the HTTP API and dashboard, with or without a worker in the process."""

from __future__ import annotations

import importlib.util
import logging
import os

from rich.text import Text

from ruvon.cli.commands import Session, make_executor
from ruvon.cli.exits import EXIT_OK
from ruvon.cli.store import opened_store
from ruvon.errors import ConfigurationError
from ruvon.runtime.serve import ServeOptions, Worker


async def serve_with_http(
    session: Session,
    options: ServeOptions,
    executor_kind: str,
    workers: int,
    address: str,
    drive: bool,
    token: str | None,
) -> int:
    """Serve the API and dashboard on ``address`` (and drive workflows unless ``drive`` is off)."""
    from ruvon.server.run import check_exposure, parse_address, serve_http

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"'ruvon serve --http' needs FastAPI and uvicorn ({exc}). Install them with "
            f"pip install 'ruvon[server]'."
        ) from None
    check_exposure(parse_address(address)[0], token)  # before opening the store
    logging.getLogger("ruvon.server").setLevel(logging.INFO)
    # GET /metrics reports what this process's workflows did: count them unless told not to
    # (RUVON_METRICS=0), when the metrics extra is installed.
    if importlib.util.find_spec("prometheus_client") is not None:
        os.environ.setdefault("RUVON_METRICS", "1")
    executor = make_executor(executor_kind, max(workers, options.concurrency)) if drive else None
    builder = session.builder()
    try:
        async with opened_store(session.db) as store:
            worker = Worker(builder, store, executor, options) if executor is not None else None
            stats = await serve_http(
                builder,
                store,
                address=address,
                token=token,
                worker=worker,
                lease_seconds=options.lease_seconds,
            )
    finally:
        if executor is not None:
            executor.close()
    if stats is not None:
        session.err.print(
            Text(
                f"stopped: {stats.claimed} claimed, {stats.finished} driven to a stop, "
                f"{stats.lost} leases lost, {stats.errors} errors"
            )
        )
    return EXIT_OK
