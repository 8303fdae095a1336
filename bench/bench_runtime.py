"""Runtime benchmarks: drain throughput, pickup latency and recovery of ``ruvon serve``.

Prints each workload, its baseline (measured in the same run) and the ratio:

- throughput: N one-step workflows inserted beforehand with ``start_workflow()``, drained by 1 and
  by 2 ``ruvon serve`` processes on PostgreSQL, against a raw psycopg loop that claims each row
  (``FOR UPDATE SKIP LOCKED``) and completes it (target with 2 workers: >= 0.5x the raw loop);
- pickup latency: from ``start_workflow()`` returning (the queueing commit) to the first step
  running, with an idle worker (target: <= 50 ms median on PostgreSQL; SQLite polls);
- recovery: from kill -9 of a worker to its workflow's step running on another (target: <= lease
  + 1 s, default lease 10 s).

Run: python bench/bench_runtime.py [--workflows 1000] [--samples 30] [--skip-recovery]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
POSTGRES_URL = os.environ.get(
    "RUVON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
LEASE = 10.0

LONG_STEP = """
import os
import time


def long_step(state, context, **kwargs):
    with open(os.environ["RT_STARTS"], "a") as out:
        out.write(f"{os.getpid()} {time.time():.6f}\\n")
    time.sleep(float(os.environ.get("RT_LONG", "0")))
    return {"n": state.n + 1}
"""


def make_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="ruvon-bench-runtime-"))
    (root / "config").mkdir()
    (root / "config" / "one.yaml").write_text(
        "workflow_type: OneStep\ninitial_state_model: bench_kit.Counter\n"
        "steps:\n  - {name: Bump, function: bench_kit.step_increment}\n"
    )
    (root / "config" / "long.yaml").write_text(
        "workflow_type: Long\ninitial_state_model: bench_kit.Counter\n"
        "steps:\n  - {name: Long, function: rtbench.long_step}\n"
    )
    (root / "rtbench.py").write_text(LONG_STEP)
    sys.path.insert(0, str(root))  # start_workflow() loads the definitions here too
    return root


def env(root: Path, **extra: str) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    found.update(PYTHONPATH=f"{root}{os.pathsep}{BENCH}", RT_STARTS=str(root / "starts"), **extra)
    return found


def serve(root: Path, db: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ruvon.cli.main", "serve", "--db", db, *args],
        cwd=root,
        env=env(root, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


# -- stores ----------------------------------------------------------------------------------------
def new_schema() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_bench_{uuid.uuid4().hex[:10]}"
            conn.execute(f"CREATE SCHEMA {schema}".encode())
    except Exception as exc:
        print(f"(PostgreSQL skipped: not reachable at '{POSTGRES_URL}': {exc})")
        return None
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def drop_schema(url: str) -> None:
    import psycopg

    schema = url.rsplit("%3D", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def sql(db: str, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            return list(conn.execute(text.encode(), params).fetchall())
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(text.replace("%s", "?"), params).fetchall())
    finally:
        conn.close()


async def start_many(root: Path, db: str, workflow_type: str, count: int) -> list[float]:
    """Start ``count`` workflows; return the time each ``start_workflow()`` returned."""
    from ruvon.builder import WorkflowBuilder
    from ruvon.cli.store import opened_store

    builder = WorkflowBuilder(config_dir=root / "config")
    returned = []
    async with opened_store(db) as store:
        for _ in range(count):
            await builder.start_workflow(workflow_type, persistence_provider=store)
            returned.append(time.time())
    return returned


def remaining(db: str) -> int:
    return int(sql(db, "SELECT COUNT(*) FROM workflows WHERE status <> 'COMPLETED'")[0][0])


# -- throughput ------------------------------------------------------------------------------------
def drain(root: Path, workers: int, count: int) -> float | None:
    """Workflows per second drained by ``workers`` serve processes (first step to last save)."""
    url = new_schema()
    if url is None:
        return None
    try:
        asyncio.run(start_many(root, url, "OneStep", count))
        procs = [serve(root, url, "--concurrency", "8", "--poll", "0.2") for _ in range(workers)]
        try:
            wait_for(lambda: remaining(url) == 0, 600, "the drain")
        finally:
            stop(procs)
        [(first, last)] = sql(
            url,
            "SELECT (SELECT MIN(at) FROM execution_log WHERE event = 'STEP_COMPLETED'), "
            "(SELECT MAX(updated_at) FROM workflows)",
        )
        return count / (float(last) - float(first))
    finally:
        drop_schema(url)


def raw_loop(root: Path, count: int) -> float | None:
    """Workflows per second of one psycopg loop: claim a row (SKIP LOCKED), complete it."""
    import psycopg
    from psycopg.types.json import Jsonb

    url = new_schema()
    if url is None:
        return None
    try:
        asyncio.run(start_many(root, url, "OneStep", count))
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            while True:
                row = conn.execute(
                    "UPDATE workflows SET owner = 'raw', lease_expires_at = %s WHERE id = ("
                    "SELECT id FROM workflows WHERE status = 'ACTIVE' AND owner IS NULL "
                    "ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, state",
                    (time.time() + LEASE,),
                ).fetchone()
                conn.commit()
                if row is None:
                    break
                state = dict(row[1], n=row[1]["n"] + 1)
                conn.execute(
                    "UPDATE workflows SET state = %s, status = 'COMPLETED', current_step = 1, "
                    "version = version + 1, updated_at = %s, owner = NULL, "
                    "lease_expires_at = NULL WHERE id = %s",
                    (Jsonb(state), time.time(), row[0]),
                )
                conn.commit()
            elapsed = time.perf_counter() - started
        assert remaining(url) == 0
        return count / elapsed
    finally:
        drop_schema(url)


# -- pickup latency --------------------------------------------------------------------------------
def pickup(root: Path, db: str, samples: int, *args: str) -> list[float]:
    """Milliseconds from start_workflow() returning to the first step running, one at a time."""
    worker = serve(root, db, "--concurrency", "4", *args)
    try:
        wait_for(lambda: _registered(db), 60, "the worker")
        latencies = []
        for i in range(samples):
            [returned] = asyncio.run(start_many(root, db, "OneStep", 1))
            wait_for(lambda: remaining(db) == 0, 30, "the workflow")
            [(at,)] = sql(
                db,
                "SELECT at FROM execution_log WHERE event = 'STEP_COMPLETED' "
                "ORDER BY id DESC LIMIT 1",
            )
            if i:  # the first one warms the worker's caches up
                latencies.append((float(at) - returned) * 1000)
        return latencies
    finally:
        stop([worker])


def _registered(db: str) -> bool:
    try:
        return bool(sql(db, "SELECT 1 FROM ruvon_workers"))
    except Exception:
        return False


# -- recovery --------------------------------------------------------------------------------------
def recovery(root: Path, db: str) -> float:
    """Seconds from kill -9 of the worker running a step to the step starting on another."""
    starts = root / "starts"
    starts.unlink(missing_ok=True)
    first = serve(root, db, RT_LONG="600")
    procs = [first]
    try:
        wait_for(lambda: _registered(db), 60, "the first worker")
        asyncio.run(start_many(root, db, "Long", 1))
        wait_for(lambda: starts.exists() and starts.read_text().strip(), 60, "the step to start")
        procs.append(serve(root, db, RT_LONG="0"))
        wait_for(lambda: len(sql(db, "SELECT 1 FROM ruvon_workers")) == 2, 60, "the second worker")
        first.send_signal(signal.SIGKILL)
        killed = time.time()
        first.wait()
        lines = wait_for(
            lambda: len(starts.read_text().splitlines()) >= 2 and starts.read_text().splitlines(),
            LEASE + 30,
            "the step to start again",
        )
    finally:
        stop(procs)
    return float(lines[1].split()[1]) - killed


def report(title: str, workload: str, ours: str, baseline: str, ratio: str, target: str) -> None:
    print(f"\n== {title}\n   workload: {workload}\n   ruvon:    {ours}\n   baseline: {baseline}")
    print(f"   ratio:    {ratio}   (target: {target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--skip-recovery", action="store_true")
    args = parser.parse_args()
    root = make_project()
    raw = raw_loop(root, args.workflows)
    one = drain(root, 1, args.workflows)
    two = drain(root, 2, args.workflows)
    if raw and one and two:
        report(
            "throughput (PostgreSQL)",
            f"{args.workflows} one-step workflows inserted beforehand; serve --concurrency 8",
            f"1 worker {one:.0f}/s, 2 workers {two:.0f}/s",
            f"raw psycopg claim+complete loop {raw:.0f}/s",
            f"1 worker {one / raw:.2f}x, 2 workers {two / raw:.2f}x",
            ">= 0.5x with 2 workers",
        )
    url = new_schema()
    if url is not None:
        try:
            latencies = pickup(root, url, args.samples)
            report(
                "pickup latency (PostgreSQL, LISTEN/NOTIFY)",
                f"{args.samples - 1} workflows started one at a time, one idle worker",
                f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms",
                "-",
                "-",
                "<= 50 ms median",
            )
            if not args.skip_recovery:
                seconds = recovery(root, url)
                report(
                    "recovery (PostgreSQL)",
                    f"kill -9 of the worker running a step; lease {LEASE:.0f} s",
                    f"the step runs again on another worker {seconds:.2f} s later",
                    f"lease {LEASE:.0f} s",
                    f"{seconds / LEASE:.2f}x the lease",
                    f"<= {LEASE + 1:.0f} s",
                )
        finally:
            drop_schema(url)
    sqlite_db = str(root / "pickup.db")
    latencies = pickup(root, sqlite_db, args.samples, "--poll", "0.05")
    report(
        "pickup latency (SQLite, polling every 50 ms)",
        f"{args.samples - 1} workflows started one at a time, one idle worker",
        f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms",
        "-",
        "-",
        "no target (polls; PostgreSQL is the low-latency store)",
    )


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))  # the definitions import bench_kit
    main()
