"""Run the HTTP server (and, unless ``--no-drive``, a serving worker) in one process.

``ruvon serve --http 127.0.0.1:8080`` comes here: both share the store and the event loop, and
SIGTERM or Ctrl-C stops both (the worker checkpoints and releases its leases, the server answers
the requests under way).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from collections.abc import Generator

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConfigurationError
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.serve import Worker, WorkerStats

_log = logging.getLogger("ruvon.server")


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6; ``:8080`` or a bare port for 127.0.0.1).

    Raises:
        ConfigurationError: The text is not an address with a port.
    """
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(
            f"--http {text!r} is not an address to listen on. Write HOST:PORT, for example "
            f"--http 127.0.0.1:8080 (or [::1]:8080)."
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token.

    Raises:
        ConfigurationError: ``host`` is not a loopback address and there is no token.
    """
    if token or is_loopback(host):
        return
    raise ConfigurationError(
        f"Refusing to serve the HTTP API and dashboard on {host} without a token: anyone who "
        f"reaches that address could start, cancel and read workflows. Set RUVON_API_TOKEN (or "
        f"pass --token) to a long random secret, or listen on 127.0.0.1."
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port).

    Raises:
        ConfigurationError: The address cannot be bound (in use, not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Pick another port with "
            f"--http {host}:PORT, or stop the process that uses it."
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Server:
    """uvicorn's server without its own signal handling (this process handles the signals)."""

    def __init__(self, app: object, sock: socket.socket) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                yield

        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            access_log=False,
        )
        self.server = Quiet(config)
        self.sock = sock

    async def serve(self) -> None:
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True

    @property
    def started(self) -> bool:
        return bool(self.server.started)


async def serve_http(
    builder: WorkflowBuilder,
    persistence: PersistenceProvider,
    *,
    address: str,
    token: str | None,
    worker: Worker | None,
    lease_seconds: float,
    announce: bool = True,
) -> WorkerStats | None:
    """Serve the API and dashboard on ``address`` (and drive workflows with ``worker``) until
    SIGTERM or SIGINT. ``persistence`` is initialized here and closed by the caller.

    Raises:
        ConfigurationError: A non-loopback address without a token, or an address in use.
    """
    from ruvon.server.app import create_app

    host, port = parse_address(address)
    check_exposure(host, token)
    await persistence.initialize()
    sock = bind(host, port)
    app = create_app(persistence, builder, token=token, lease_seconds=lease_seconds)
    server = _Server(app, sock)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.stop()
        if worker is not None:
            worker.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    shown = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    if announce:
        _log.info(
            "dashboard and API on http://%s:%d/ (%s)",
            shown_host,
            shown,
            "token required" if token else "no token: this machine only",
        )
    try:
        if worker is None:
            await server.serve()
            return None
        serving = asyncio.create_task(server.serve(), name="ruvon-http")
        try:
            stats = await worker.run()
        finally:
            server.stop()
            await serving
        return stats
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        sock.close()
