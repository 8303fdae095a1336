"""Schedule benchmarks: how late ticks start, and how much an idle schedule loop queries.

Prints each workload, its baseline (measured in the same run) and the ratio:

- tick lateness: a schedule ticking every second, run by 3 schedule loops at once (as 3 workers
  would) for ``--seconds`` seconds; from the tick to the commit of its workflow, p50/p99, against
  the tick period; and the number of ticks that started more than one workflow (must be 0);
- idle queries: schedule queries per second of one loop while the only schedule is due in an hour,
  against the claim polls per second of a SQLite worker at its default ``--poll 0.5`` (target: at
  most 2 queries/s; the loop makes 1).

Run: python bench/bench_schedules.py [--seconds 10] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runtime"))

POSTGRES_URL = os.environ.get(
    "RUVON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def _store(kind: str, root: Path) -> tuple[Any, str | None]:
    if kind == "sqlite":
        from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

        sqlite = SQLitePersistenceProvider(root / "bench.db")
        await sqlite.initialize()
        return sqlite, None
    import psycopg

    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    schema = f"bench_sched_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    postgres = PostgresPersistenceProvider(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    await postgres.initialize()
    return postgres, schema


async def lateness(kind: str, seconds: float) -> None:
    from runtime_kit import write_project

    from ruvon.builder import WorkflowBuilder
    from ruvon.runtime import schedules

    with tempfile.TemporaryDirectory() as tmp:
        root = write_project(Path(tmp) / "project")
        sys.path.insert(0, str(root))
        store, schema = await _store(kind, root)
        try:
            builder = WorkflowBuilder(config_dir=root / "config")
            await schedules.add_schedule(store, "Chain5", "* * * * * *", name="bench")
            stop = asyncio.Event()
            loops = [
                asyncio.create_task(
                    schedules.schedule_loop(builder, store, owner=f"w{i}", stopping=stop.is_set)
                )
                for i in range(3)
            ]
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*loops)
            records = await store.list_workflows(limit=100_000)
            (item,) = await schedules.list_schedules(store)
            dialect = schedules._dialect(store)
            async with dialect.statement("read keys") as tx:
                keys = await tx.rows("SELECT key, workflow_id FROM ruvon_idempotency")
            tick_of = {str(wid): float(str(key).rsplit(":", 1)[1]) for key, wid in keys}
            late = [r.created_at - tick_of[r.id] for r in records]
            late.sort()
            p50 = statistics.median(late) * 1000
            p99 = late[max(int(len(late) * 0.99) - 1, 0)] * 1000
            print(
                f"[{kind}] tick lateness, 3 loops, {len(records)} ticks: p50 {p50:.1f} ms, "
                f"p99 {p99:.1f} ms; baseline: tick period 1000 ms; ratio p99/period "
                f"{p99 / 1000:.3f}; workflows per tick: {len(records)}/{item.runs} "
                f"(duplicates: {len(records) - item.runs})"
            )
        finally:
            await store.close()
            if schema:
                import psycopg

                with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def idle_queries(kind: str, seconds: float) -> None:
    from ruvon.builder import WorkflowBuilder
    from ruvon.runtime import schedules

    with tempfile.TemporaryDirectory() as tmp:
        store, schema = await _store(kind, Path(tmp))
        try:
            await schedules.add_schedule(store, "Later", "0 * * * *", name="idle")
            counted = 0
            original = schedules.next_due

            async def counting(persistence: Any) -> float | None:
                nonlocal counted
                counted += 1
                return await original(persistence)

            schedules.next_due = counting  # type: ignore[assignment]
            stop = asyncio.Event()
            started = time.monotonic()
            loop = asyncio.create_task(
                schedules.schedule_loop(WorkflowBuilder(), store, owner="w", stopping=stop.is_set)
            )
            await asyncio.sleep(seconds)
            stop.set()
            await loop
            schedules.next_due = original  # type: ignore[assignment]
            rate = counted / (time.monotonic() - started)
            baseline = 1 / 0.5
            print(
                f"[{kind}] idle schedule queries: {rate:.2f}/s; baseline: worker claim polls "
                f"{baseline:.2f}/s (--poll 0.5); ratio {rate / baseline:.2f}"
            )
        finally:
            await store.close()
            if schema:
                import psycopg

                with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.postgres else ["sqlite"]
    for kind in kinds:
        await lateness(kind, args.seconds)
        await idle_queries(kind, min(args.seconds, 5.0))


if __name__ == "__main__":
    asyncio.run(main())
