"""HTTP steps: check stock and reserve it against a local JSON API (runs offline).

A tiny shop API runs on 127.0.0.1 in a thread of this process. Its stock endpoint fails the
first call with 503, so the first HTTP step is retried once. Run: ``python main.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from order_client.models import OrderState
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider


HERE = Path(__file__).resolve().parent
CALLS: dict[str, int] = {}


class ShopApi(BaseHTTPRequestHandler):
    """GET /inventory/<sku>?quantity=N (503 on the first call); POST /reservations (201)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        print(f"  [shop api] {self.command} {self.path} -> {code}")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        CALLS["/inventory"] = CALLS.get("/inventory", 0) + 1
        if CALLS["/inventory"] == 1:
            self.reply(503, {"error": "warming up"})
            return
        sku = parts.path.rsplit("/", 1)[-1]
        wanted = int(parse_qs(parts.query)["quantity"][0])
        self.reply(200, {"sku": sku, "on_hand": 10, "enough": wanted <= 10})

    def do_POST(self) -> None:
        order = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reservation = {
            "reservation_id": f"R-{self.headers['Idempotency-Key']}",
            "sku": order["sku"],
            "quantity": int(order["quantity"]),  # template values arrive as strings
            "contact": order["contact"]["email"],
        }
        self.reply(201, reservation)

    def reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


async def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    server = ThreadingHTTPServer(("127.0.0.1", 0), ShopApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    # The YAML reads the API's address as ${SHOP_API_URL} when the definition is loaded.
    os.environ["SHOP_API_URL"] = f"http://{host!s}:{port}"
    try:
        builder = WorkflowBuilder(config_dir=HERE / "config")
        workflow = await builder.create_workflow(
            "OrderSync",
            persistence_provider=InMemoryPersistenceProvider(),
            execution_provider=SyncExecutor(),
            initial_data={
                "order_id": "ORD-42",
                "sku": " widget ",
                "quantity": 2,
                "customer_email": "Ada@Example.org",
            },
        )
        await workflow.run_to_completion()
    finally:
        server.shutdown()
        server.server_close()

    print(f"status: {workflow.status.value}")
    if workflow.error:
        print(f"error: {workflow.error}")
        raise SystemExit(1)
    state = workflow.state
    assert isinstance(state, OrderState) and state.inventory is not None
    print(f"attempts on /inventory: {CALLS['/inventory']}")
    print(f"stock: {state.inventory['body']}")
    print(state.summary)


if __name__ == "__main__":
    asyncio.run(main())
