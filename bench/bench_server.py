"""The HTTP server under load: ``GET /api/workflows/{id}`` against a bare FastAPI endpoint.

With 10,000 workflows stored in PostgreSQL (a schema of its own, dropped at the end), ``wrk``
(Debian's package) loads two servers in turn, each one uvicorn process on the same database:

- ruvon's app (``create_app``): ``GET /api/workflows/{id}`` (the workflow, its log and tasks);
- a bare FastAPI app whose one endpoint reads the same workflow row with psycopg and returns it.

It prints the requests/s of both and their ratio (target: ruvon >= 0.5x the bare endpoint), then the
server time (the ``Server-Timing`` header) of the dashboard's first page with the 10,000 workflows
(target: under 300 ms).

    python bench/bench_server.py [--url postgresql://...] [--seconds 8] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx

WORKFLOWS = 10_000
BASE_URL = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STATUSES = ["COMPLETED"] * 6 + ["FAILED", "WAITING_HUMAN", "ACTIVE", "CANCELLED"]
DEFINITION: dict[str, Any] = {
    "workflow_type": "OrderProcessing",
    "workflow_version": "1.0.0",
    "initial_state_model": "order_processor.models.OrderState",
    "steps": [
        {"name": "Validate_Order", "type": "STANDARD", "function": "m.validate"},
        {
            "name": "Parallel_Validation",
            "type": "PARALLEL",
            "tasks": [
                {"name": n, "function_path": f"m.{n}"}
                for n in ("check_inventory", "verify_payment", "fraud_check")
            ],
        },
        {"name": "Check_Results", "type": "STANDARD", "function": "m.check"},
        {"name": "Calculate_Shipping", "type": "STANDARD", "function": "m.ship"},
    ],
}


# -- the servers (run as subprocesses of this script) ----------------------------------------------
def serve_ruvon(url: str, port: int) -> None:
    import uvicorn

    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider
    from ruvon.server.app import create_app

    async def main() -> None:
        store = PostgresPersistenceProvider(url, min_size=4, max_size=10)
        await store.initialize()
        app = create_app(store, WorkflowBuilder(config_dir=tempfile.mkdtemp()))
        config = uvicorn.Config(app, port=port, log_level="warning", access_log=False)
        await uvicorn.Server(config).serve()

    asyncio.run(main())


def serve_bare(url: str, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, HTTPException
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    from ruvon.implementations.persistence.schema import WORKFLOW_COLUMNS

    app = FastAPI()
    sql = f"SELECT {', '.join(WORKFLOW_COLUMNS)} FROM workflows WHERE id = %s"

    async def main() -> None:
        async with AsyncConnectionPool(url, min_size=4, max_size=10, open=False) as pool:

            @app.get("/row/{workflow_id}")
            async def row(workflow_id: str) -> dict[str, Any]:
                async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(sql, (workflow_id,))
                    found = await cur.fetchone()
                if found is None:
                    raise HTTPException(404)
                return dict(found)

            config = uvicorn.Config(app, port=port, log_level="warning", access_log=False)
            await uvicorn.Server(config).serve()

    asyncio.run(main())


# -- the measurement -------------------------------------------------------------------------------
async def fill(url: str) -> list[str]:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider
    from ruvon.providers.persistence import LogEntry, WorkflowRecord

    store = PostgresPersistenceProvider(url, min_size=4, max_size=8)
    await store.initialize()
    rng = random.Random(15)
    ids: list[str] = []
    now = time.time() - WORKFLOWS

    async def one(i: int) -> None:
        workflow_id = str(uuid.UUID(int=rng.getrandbits(128)))
        ids.append(workflow_id)
        status = rng.choice(STATUSES)
        at = now + i
        record = WorkflowRecord(
            id=workflow_id,
            workflow_type="OrderProcessing",
            workflow_version="1.0.0",
            state_model_path="order_processor.models.OrderState",
            definition=DEFINITION,
            state={"order_id": f"ORD-{i}", "total_amount": 209.97, "items": [{"sku": "W", "q": 2}]},
            status=status,
            current_step=4 if status == "COMPLETED" else 2,
            created_at=at,
            updated_at=at + 2,
        )
        log = [
            LogEntry(workflow_id, "STEP_COMPLETED", "Validate_Order", at=at, duration=0.01),
            *(
                LogEntry(workflow_id, "TASK_COMPLETED", "Parallel_Validation", t, at, d)
                for t, d in (
                    ("check_inventory", 1.0),
                    ("verify_payment", 1.5),
                    ("fraud_check", 2.0),
                )
            ),
            LogEntry(workflow_id, "STEP_COMPLETED", "Parallel_Validation", at=at, duration=2.0),
        ]
        await store.save_workflow(record, log=log)

    try:
        for start in range(0, WORKFLOWS, 100):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 100, WORKFLOWS))))
    finally:
        await store.close()
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(kind: str, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, f"--serve-{kind}", url, str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/openapi.json", timeout=2)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the {kind} server did not start")


def wrk(target: str, seconds: int, connections: int) -> float:
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", target],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if match is None or errors is not None:
        raise SystemExit(f"wrk failed on {target}:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))


def measure(url: str, ids: list[str], seconds: int, connections: int) -> None:
    target = ids[len(ids) // 2]
    results: dict[str, list[float]] = {"ruvon": [], "bare": []}
    servers = {kind: start_server(kind, url) for kind in ("ruvon", "bare")}
    try:
        ruvon_url = f"{servers['ruvon'][1]}/api/workflows/{target}"
        bare_url = f"{servers['bare'][1]}/row/{target}"
        assert httpx.get(ruvon_url).json()["id"] == target
        assert httpx.get(bare_url).json()["id"] == target
        for url_of in (ruvon_url, bare_url):  # warm both up
            wrk(url_of, 2, connections)
        for _ in range(3):  # interleaved, best of three each
            results["ruvon"].append(wrk(ruvon_url, seconds, connections))
            results["bare"].append(wrk(bare_url, seconds, connections))
        ours, bare = max(results["ruvon"]), max(results["bare"])
        print(f"GET /api/workflows/{{id}}  ruvon {ours:8.0f} req/s  (runs {results['ruvon']})")
        print(f"bare FastAPI row read    {bare:8.0f} req/s  (runs {results['bare']})")
        print(f"ratio ruvon / bare: {ours / bare:.2f}x (target >= 0.5x)")

        timings = []
        with httpx.Client(base_url=servers["ruvon"][1], timeout=30) as client:
            for _ in range(25):
                response = client.get("/")
                assert (
                    response.status_code == 200
                    and target in client.get(f"/workflows/{target}").text
                )
                timings.append(float(response.headers["server-timing"].split("dur=")[1]))
            pages = client.get("/api/workflows", params={"limit": 1}).status_code
        assert pages == 200
        timings = timings[5:]
        print(
            f"dashboard first page with {WORKFLOWS} workflows: server time median "
            f"{statistics.median(timings):.1f} ms, max {max(timings):.1f} ms (target < 300 ms)"
        )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=BASE_URL)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve-ruvon", nargs=2, metavar=("URL", "PORT"))
    parser.add_argument("--serve-bare", nargs=2, metavar=("URL", "PORT"))
    args = parser.parse_args()
    if args.serve_ruvon:
        serve_ruvon(args.serve_ruvon[0], int(args.serve_ruvon[1]))
        return
    if args.serve_bare:
        serve_bare(args.serve_bare[0], int(args.serve_bare[1]))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    import psycopg

    schema = f"bench_srv_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{args.url}?options=-csearch_path%3D{schema}"
    try:
        started = time.perf_counter()
        ids = asyncio.run(fill(url))
        print(f"stored {len(ids)} workflows in {time.perf_counter() - started:.1f} s")
        measure(url, ids, args.seconds, args.connections)
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
