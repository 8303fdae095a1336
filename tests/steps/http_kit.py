"""State models, a step function and a local HTTP server for the HTTP step tests (``http_kit``)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel

from ruvon.models import StepContext


class State(BaseModel):
    order_id: str = "A-1"
    token: str = "secret"
    qty: int = 2
    marker: str = ""
    order: dict[str, Any] | None = None
    created: dict[str, Any] | None = None
    ids: list[str] = []


class Reply(BaseModel):
    """A strict output field: the body must be a list of ints."""

    status_code: int
    body: list[int]


class StrictState(BaseModel):
    order_id: str = "A-1"
    reply: Reply | None = None


def mark(state: State, context: StepContext) -> dict[str, Any]:
    return {"marker": "prepared"}


class Call(BaseModel):
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


class Server(ThreadingHTTPServer):
    """Routes by path (see ``Handler``); records every call; fails ``/flaky`` ``fail_first`` times."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls: list[Call] = []
        self.fail_first = 0
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def paths(self) -> list[str]:
        with self.lock:
            return [call.path for call in self.calls]


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        call = Call(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length).decode(),
        )
        with self.server.lock:
            self.server.calls.append(call)
            seen = sum(1 for c in self.server.calls if c.path == call.path)
        if parts.path == "/flaky" and seen <= self.server.fail_first:
            self._send(503, "text/plain", "busy, try later")
        elif parts.path.startswith("/status/"):
            self._send(int(parts.path.rsplit("/", 1)[1]), "text/plain", "status page")
        elif parts.path == "/slow":
            time.sleep(1.0)
            self._send(200, "text/plain", "late")
        elif parts.path == "/text":
            self._send(200, "text/plain; charset=utf-8", "plain words")
        elif parts.path == "/ints":
            self._send(200, "application/json", json.dumps([1, 2, 3]))
        else:
            echo = {"seen": call.model_dump(), "n": seen}
            self._send(200, "application/json", json.dumps(echo))

    def _send(self, status: int, content_type: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
