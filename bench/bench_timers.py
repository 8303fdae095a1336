"""Timer benchmark: N sleeping workflows on PostgreSQL woken on time by 2 ``ruvon serve`` workers.

Workflows are stored SLEEPING (their next step records ``time.time()`` into the state) with due
times spread evenly over ``--spread`` seconds, starting ``--lead`` seconds after the workers start.
Prints:

- lateness (woken step's start minus due time) p50/p99/max against the issue's target (p99 <= 100
  ms), and against a baseline measured in this process: plain ``asyncio.sleep`` timers with the
  same spacing (the event loop's own timer precision);
- idle queries per second per worker (every statement the worker's psycopg cursors run, counted in
  the worker process) while nothing is due, before the first due time and after the last one
  (target: <= 2 per second).

How workers wake: each asks for the earliest due time (one indexed query), sleeps until then or
its idle interval (1.5 s on PostgreSQL), and is woken early by ``NOTIFY`` when a timer or signal
is created.

Run: python bench/bench_timers.py [--workflows 10000] [--spread 60] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

POSTGRES_URL = os.environ.get(
    "RUVON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

KIT = """
import time

from pydantic import BaseModel


class Timed(BaseModel):
    due: float = 0.0
    woke: float | None = None


def record(state, context, **kwargs):
    return {"woke": time.time()}
"""

DEFINITION = """workflow_type: Timed
initial_state_model: tbench.Timed
steps:
  - {name: Nap, type: SLEEP, until: "2000-01-01T00:00:00", automate_next: true}
  - {name: Record, function: tbench.record}
"""

# Runs inside each worker process: count every statement its psycopg cursors execute.
WORKER = """
import sys, threading, time
import psycopg

counted = [0]
for cls in (psycopg.AsyncCursor, psycopg.Cursor):
    for name in ("execute", "executemany"):
        original = getattr(cls, name)
        if cls is psycopg.AsyncCursor:
            async def counting(self, *a, _original=original, **k):
                counted[0] += 1
                return await _original(self, *a, **k)
        else:
            def counting(self, *a, _original=original, **k):
                counted[0] += 1
                return _original(self, *a, **k)
        setattr(cls, name, counting)

def report(path):
    while True:
        with open(path, "a") as out:
            out.write(f"{time.time():.3f} {counted[0]}\\n")
        time.sleep(0.25)

threading.Thread(target=report, args=(sys.argv[1],), daemon=True).start()
from ruvon.cli.main import run
sys.argv = ["ruvon", *sys.argv[2:]]
run()
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="ruvon-bench-timers-"))
    (root / "config").mkdir()
    (root / "config" / "timed.yaml").write_text(DEFINITION)
    (root / "tbench.py").write_text(KIT)
    (root / "worker.py").write_text(WORKER)
    return root


def env_for(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    env["PYTHONPATH"] = str(root)
    return env


async def store_sleepers(root: Path, url: str, count: int, first_due: float, spread: float) -> None:
    """One workflow made by ruvon as the template, then ``count`` SLEEPING copies of it."""
    import psycopg

    sys.path.insert(0, str(root))
    from ruvon.builder import WorkflowBuilder
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(url)
    await store.initialize()
    try:
        template = await WorkflowBuilder(config_dir=root / "config").create_workflow(
            "Timed", persistence_provider=store
        )
    finally:
        await store.close()
    rows = []
    for i in range(count):
        due = first_due + spread * i / count
        rows.append(
            (
                str(uuid.uuid4()),
                json.dumps({"due": due, "woke": None}),
                json.dumps({"wake_at": due}),
                due,
                template.id,
            )
        )
    async with await psycopg.AsyncConnection.connect(url, autocommit=False) as conn:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO workflows (id, workflow_type, workflow_version, state_model_path, "
                "definition, state, status, current_step, metadata, version, created_at, "
                "updated_at, parent_id, engine, wake_at) SELECT %s, workflow_type, "
                "workflow_version, state_model_path, definition, %s::jsonb, 'SLEEPING', 1, "
                "metadata, 1, created_at, updated_at, NULL, %s::jsonb, %s FROM workflows "
                "WHERE id = %s",
                rows,
            )
            await cursor.execute("DELETE FROM workflows WHERE id = %s", (template.id,))
            await cursor.execute("ANALYZE workflows")
        await conn.commit()


def count_rate(path: Path, start: float, end: float) -> float:
    """Statements per second a worker ran between ``start`` and ``end`` (its report lines)."""
    points = []
    for line in path.read_text().splitlines():
        at, count = line.split()
        points.append((float(at), int(count)))
    inside = [p for p in points if start <= p[0] <= end]
    if len(inside) < 2:
        return float("nan")
    (t0, c0), (t1, c1) = inside[0], inside[-1]
    return (c1 - c0) / (t1 - t0)


async def baseline_lateness(count: int, spread: float) -> list[float]:
    """Plain asyncio timers with the same spacing: the event loop's own precision."""
    start = time.time() + 0.5
    late: list[float] = []

    async def one(due: float) -> None:
        await asyncio.sleep(max(due - time.time(), 0))
        late.append(time.time() - due)

    await asyncio.gather(*(one(start + spread * i / count) for i in range(count)))
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--lead", type=float, default=20.0, help="seconds before the first due")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    import psycopg

    schema = f"bench_timers_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    root = make_project()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        print(f"storing {args.workflows} sleeping workflows ...", flush=True)
        setup = time.time()
        first_due = setup + 30.0 + args.lead  # corrected below once the rows are in
        asyncio.run(store_sleepers(root, url, 0, first_due, args.spread))  # schema only
        # Rows are stored relative to when the workers start (after the insert).
        first_due = time.time() + args.lead + max(3.0, args.workflows / 2000)
        asyncio.run(store_sleepers(root, url, args.workflows, first_due, args.spread))
        print(f"stored in {time.time() - setup:.1f} s; starting 2 workers", flush=True)
        started = time.time()
        reports = [root / f"w{i}.count" for i in range(2)]
        for i, report in enumerate(reports):
            command = [sys.executable, str(root / "worker.py"), str(report), "serve", "--db", url]
            command += ["--concurrency", str(args.concurrency)]
            out = (root / f"w{i}.log").open("wb")
            procs.append(
                subprocess.Popen(command, cwd=root, env=env_for(root), stdout=out, stderr=out)
            )
        last_due = first_due + args.spread
        with psycopg.connect(url, autocommit=True) as conn:
            while True:
                time.sleep(1.0)
                left = conn.execute(
                    "SELECT COUNT(*) FROM workflows WHERE status <> 'COMPLETED'"
                ).fetchone()
                assert left is not None
                if left[0] == 0 and time.time() > last_due:
                    break
                if time.time() > last_due + 120:
                    raise SystemExit(f"{left[0]} workflows never completed; see {root}/w*.log")
            done_at = time.time()
            time.sleep(8.0)  # idle after the last wake-up
            states = [row[0] for row in conn.execute("SELECT state FROM workflows").fetchall()]
        late = [s["woke"] - s["due"] for s in states]
        base = asyncio.run(baseline_lateness(min(args.workflows, 2000), min(args.spread, 10.0)))
        # From 10 s after the start (imports and schema checks are over) to the first due time.
        idle_before = [count_rate(r, started + 10.0, first_due - 0.5) for r in reports]
        idle_after = [count_rate(r, done_at + 2.0, done_at + 7.5) for r in reports]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    def ms(value: float) -> str:
        return f"{value * 1000:8.1f} ms"

    print(
        f"\n{args.workflows} workflows, due over {args.spread:g} s, 2 workers x concurrency "
        f"{args.concurrency}"
    )
    print(
        f"lateness  p50 {ms(percentile(late, 0.5))}  p99 {ms(percentile(late, 0.99))}  "
        f"max {ms(max(late))}  min {ms(min(late))}"
    )
    print(
        f"baseline  p50 {ms(percentile(base, 0.5))}  p99 {ms(percentile(base, 0.99))}  "
        f"(asyncio.sleep timers, {len(base)} over {min(args.spread, 10.0):g} s)"
    )
    p99 = percentile(late, 0.99)
    print(
        f"p99 vs target 100 ms: {p99 / 0.1:.2f}x; vs baseline p99: "
        f"{p99 / max(percentile(base, 0.99), 1e-6):.1f}x"
    )
    for i in range(2):
        print(
            f"worker {i}: idle queries/s before the first due {idle_before[i]:.2f}, after the "
            f"last {idle_after[i]:.2f} (target <= 2; ratio {max(idle_before[i], idle_after[i]) / 2:.2f}x)"
        )
    print(f"mean lateness {ms(statistics.mean(late))}")


if __name__ == "__main__":
    main()
