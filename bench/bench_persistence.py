"""Persistence benchmark: durable steps per store against raw commits of the same rows.

Workload: 200 workflows of 10 no-op STANDARD steps (``return {"n": state.n + 1}``), one after
another, SyncExecutor; every step is committed (workflow row + its STEP_COMPLETED log row).
Baseline: the same UPDATE + log INSERT + COMMIT per step through the raw driver (sqlite3 with the
same pragmas; psycopg async on one connection, as a transaction and as one statement), in the
same run; and, informational, the raw driver also sending ruvon's lease statements (one UPDATE to
take the lease per workflow, freed by the last save), which leaves the engine's Python alone. Group commit: GROUP_THREADS threads saving concurrently into one SQLite provider,
against the same run with group_commit=False.

Run: python bench/bench_persistence.py [--workflows N] [--profile sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import json
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import StepContext
from ruvon.providers.persistence import PersistenceProvider

STEPS = 10
TARGET_RATIO_SQLITE = 1.25  # SQLite NORMAL against the raw driver
TARGET_US_POSTGRES = 400.0  # PostgreSQL, one statement per save
ROUNDS = 5  # alternating rounds of ours and the baseline (see interleaved)
GROUP_THREADS = 50  # concurrent workflows (one thread and event loop each) for group commit
POSTGRES_DSN = os.environ.get(
    "RUVON_BENCH_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


class Counter(BaseModel):
    n: int = 0


def increment(state: Counter, context: StepContext) -> dict[str, Any]:
    return {"n": state.n + 1}


def chain_yaml(workflow_type: str = "Chain", automate: bool = True) -> str:
    """The chain; with ``automate=False`` (type ``Manual``) each step needs its own next_step()."""
    module = "bench_persistence" if __name__ == "__main__" else __name__
    lines = [f"workflow_type: {workflow_type}", f"initial_state_model: {module}.Counter", "steps:"]
    for i in range(STEPS):
        lines += [f"  - name: s{i}", f"    function: {module}.increment"]
        lines += ["    automate_next: true"] if automate and i < STEPS - 1 else []
    return "\n".join(lines) + "\n"


async def run_workflows(
    builder: WorkflowBuilder, store: PersistenceProvider, count: int, step_by_step: bool = False
) -> float:
    """Microseconds per step of ``count`` workflows run one after another on ``store``.

    With ``step_by_step``, each step is its own ``next_step()`` call (the tutorial's loop).
    """
    executor = SyncExecutor()
    await store.initialize()
    started = time.perf_counter()
    for _ in range(count):
        workflow = await builder.create_workflow(
            "Manual" if step_by_step else "Chain",
            persistence_provider=store,
            execution_provider=executor,
        )
        await workflow.next_step()
        while workflow.status == "ACTIVE":
            await workflow.next_step()
        assert workflow.state.n == STEPS and workflow.status == "COMPLETED"
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed / (count * STEPS) * 1e6


async def raw_sqlite_step_by_step(path: Path, definition: str, count: int) -> float:
    """The raw driver sending what a step-by-step driver must: per step, the lease (an UPDATE of
    its own), then one transaction that saves the step, logs it and frees the lease."""
    conn = await _raw_connection(path, "NORMAL")
    save = (
        "UPDATE workflows SET state = ?, current_step = ?, version = ?, updated_at = ?, "
        "owner = CASE WHEN owner = ? THEN NULL ELSE owner END, "
        "lease_expires_at = CASE WHEN owner = ? THEN NULL ELSE lease_expires_at END "
        "WHERE id = ? AND version = ?"
    )
    started = time.perf_counter()
    for _ in range(count):
        workflow_id, _now = _raw_create(conn, "Manual", definition)
        for step in range(STEPS):
            at = time.time()
            conn.execute(_LEASE, ("raw", at + 10, workflow_id, "raw")).fetchall()
            conn.execute("BEGIN IMMEDIATE")
            state = json.dumps({"n": step + 1})
            conn.execute(save, (state, step + 1, step + 2, at, "raw", "raw", workflow_id, step + 1))
            _raw_log_and_commit(conn, workflow_id, step)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed / (count * STEPS) * 1e6


async def _raw_connection(path: Path, synchronous: str) -> sqlite3.Connection:
    """A plain sqlite3 connection (WAL, ``synchronous``) on a database with ruvon's schema."""
    schema = SQLitePersistenceProvider(path)  # the same schema, then raw access
    await schema.initialize()
    await schema.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def _raw_create(conn: sqlite3.Connection, workflow_type: str, definition: str) -> tuple[str, float]:
    """Insert a new workflow row in a transaction of its own; return its id and the time."""
    workflow_id, now = str(uuid.uuid4()), time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO workflows (id, workflow_type, workflow_version, state_model_path, definition, "
        "state, status, current_step, metadata, version, created_at, updated_at, parent_id, engine) "
        "VALUES (?, ?, '1', 'm.Counter', ?, ?, 'ACTIVE', 0, '{}', 1, ?, ?, NULL, '{}')",
        (workflow_id, workflow_type, definition, json.dumps({"n": 0}), now, now),
    )
    conn.execute("COMMIT")
    return workflow_id, now


def _raw_log_and_commit(conn: sqlite3.Connection, workflow_id: str, step: int) -> None:
    conn.execute(
        "INSERT INTO execution_log (workflow_id, event, step_name, at, duration) "
        "VALUES (?, 'STEP_COMPLETED', ?, ?, 0.0)",
        (workflow_id, f"s{step}", time.time()),
    )
    conn.execute("COMMIT")


_LEASE = (
    "UPDATE workflows SET owner = ?, lease_expires_at = ? WHERE id = ? "
    "AND (owner IS NULL OR owner = ?) RETURNING version"
)
_LAST_SAVE = (  # the last step's save: the status ends, the lease is given up in it
    "UPDATE workflows SET state = ?, current_step = ?, version = ?, updated_at = ?, "
    "status = 'COMPLETED', ended_at = ?, owner = CASE WHEN owner = ? THEN NULL ELSE owner END, "
    "lease_expires_at = CASE WHEN owner = ? THEN NULL ELSE lease_expires_at END "
    "WHERE id = ? AND version = ?"
)


async def raw_sqlite(
    path: Path, synchronous: str, definition: str, count: int, leased: bool = False
) -> float:
    """Microseconds per step of the same commits through sqlite3 directly.

    With ``leased``, also the statements of ruvon's lease protocol: the lease taken by an UPDATE
    of its own before the first step, and the last save that ends the workflow and frees it.
    """
    conn = await _raw_connection(path, synchronous)
    started = time.perf_counter()
    for _ in range(count):
        workflow_id, now = _raw_create(conn, "Chain", definition)
        if leased:
            conn.execute(_LEASE, ("raw", now + 10, workflow_id, "raw")).fetchall()
        for step in range(STEPS):
            conn.execute("BEGIN IMMEDIATE")
            state, at = json.dumps({"n": step + 1}), time.time()
            if leased and step == STEPS - 1:
                conn.execute(
                    _LAST_SAVE,
                    (state, step + 1, step + 2, at, at, "raw", "raw", workflow_id, step + 1),
                )
            else:
                conn.execute(
                    "UPDATE workflows SET state = ?, current_step = ?, version = ?, "
                    "updated_at = ? WHERE id = ? AND version = ?",
                    (state, step + 1, step + 2, at, workflow_id, step + 1),
                )
            _raw_log_and_commit(conn, workflow_id, step)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed / (count * STEPS) * 1e6


async def raw_postgres(dsn: str, definition_text: str, count: int) -> float:
    """Microseconds per step of the same commits through psycopg (async, one connection)."""
    import psycopg
    from psycopg.types.json import Jsonb

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        definition = Jsonb(json.loads(definition_text))
        started = time.perf_counter()
        for _ in range(count):
            workflow_id, now = str(uuid.uuid4()), time.time()
            await conn.execute(
                "INSERT INTO workflows (id, workflow_type, workflow_version, state_model_path, "
                "definition, state, status, current_step, metadata, version, created_at, "
                "updated_at, parent_id, engine) "
                "VALUES (%s, 'Chain', '1', 'm.Counter', %s, %s, 'ACTIVE', "
                "0, '{}', 1, %s, %s, NULL, '{}')",
                (workflow_id, definition, Jsonb({"n": 0}), now, now),
            )
            for step in range(STEPS):
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE workflows SET state = %s, current_step = %s, version = %s, "
                        "updated_at = %s WHERE id = %s AND version = %s",
                        (
                            Jsonb({"n": step + 1}),
                            step + 1,
                            step + 2,
                            time.time(),
                            workflow_id,
                            step + 1,
                        ),
                    )
                    await conn.execute(
                        "INSERT INTO execution_log (workflow_id, event, step_name, at, duration) "
                        "VALUES (%s, 'STEP_COMPLETED', %s, %s, 0.0)",
                        (workflow_id, f"s{step}", time.time()),
                    )
        elapsed = time.perf_counter() - started
    return elapsed / (count * STEPS) * 1e6


async def raw_postgres_one_statement(
    dsn: str, definition_text: str, count: int, leased: bool = False
) -> float:
    """Microseconds per step when each step's UPDATE and log INSERT are one statement.

    With ``leased``, also ruvon's lease statements (see :func:`raw_sqlite`).
    """
    import psycopg
    from psycopg.types.json import Jsonb

    log = (
        "INSERT INTO execution_log (workflow_id, event, step_name, at, duration) "
        "SELECT %s, 'STEP_COMPLETED', %s, %s, 0.0 FROM w"
    )
    sql = (
        "WITH w AS (UPDATE workflows SET state = %s, current_step = %s, version = %s, "
        f"updated_at = %s WHERE id = %s AND version = %s RETURNING version) {log}"
    )
    last = f"WITH w AS ({_LAST_SAVE.replace('?', '%s')} RETURNING version) {log}"
    lease = _LEASE.replace("?", "%s")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        definition = Jsonb(json.loads(definition_text))
        started = time.perf_counter()
        for _ in range(count):
            workflow_id, now = str(uuid.uuid4()), time.time()
            await conn.execute(
                "INSERT INTO workflows (id, workflow_type, workflow_version, state_model_path, "
                "definition, state, status, current_step, metadata, version, created_at, "
                "updated_at, parent_id, engine) "
                "VALUES (%s, 'Chain', '1', 'm.Counter', %s, %s, 'ACTIVE', "
                "0, '{}', 1, %s, %s, NULL, '{}')",
                (workflow_id, definition, Jsonb({"n": 0}), now, now),
            )
            if leased:
                await conn.execute(lease, ("raw", now + 10, workflow_id, "raw"))
            for step in range(STEPS):
                at = time.time()
                state = Jsonb({"n": step + 1})
                if leased and step == STEPS - 1:
                    args = (state, step + 1, step + 2, at, at, "raw", "raw", workflow_id, step + 1)
                    await conn.execute(last, (*args, workflow_id, f"s{step}", at))
                    continue
                args = (state, step + 1, step + 2, at, workflow_id, step + 1, workflow_id)
                await conn.execute(sql, (*args, f"s{step}", at))
        elapsed = time.perf_counter() - started
    return elapsed / (count * STEPS) * 1e6


def threaded(builder: WorkflowBuilder, store: SQLitePersistenceProvider, each: int) -> float:
    """Microseconds per step of GROUP_THREADS threads, each running ``each`` workflows."""
    asyncio.run(store.initialize())
    barrier = threading.Barrier(GROUP_THREADS + 1)

    def worker() -> None:
        async def run() -> None:
            executor = SyncExecutor()
            for _ in range(each):
                workflow = await builder.create_workflow(
                    "Chain", persistence_provider=store, execution_provider=executor
                )
                await workflow.next_step()
                assert workflow.state.n == STEPS

        barrier.wait()
        asyncio.run(run())

    threads = [threading.Thread(target=worker) for _ in range(GROUP_THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    asyncio.run(store.close())
    return elapsed / (GROUP_THREADS * each * STEPS) * 1e6


async def group_commit(builder: WorkflowBuilder, work: Path, count: int) -> None:
    """Concurrent workflows of one process: group commit against one transaction per save."""
    each = max(1, count // GROUP_THREADS)
    print(
        f"\ngroup commit: {GROUP_THREADS} threads (one event loop each) x {each} workflows x "
        f"{STEPS} steps on one SQLitePersistenceProvider; baseline: the same with "
        f"group_commit=False"
    )
    for synchronous in ("NORMAL", "FULL"):
        results = {}
        for grouped in (False, True):
            path = work / f"group-{synchronous}-{grouped}.db"
            store = SQLitePersistenceProvider(path, synchronous, group_commit=grouped)
            results[grouped] = await asyncio.to_thread(threaded, builder, store, each)
        print(
            f"SQLite {synchronous:<7} grouped {results[True]:>8.1f} us/step   one commit per save "
            f"{results[False]:>8.1f} us/step   ratio {results[True] / results[False]:>5.2f}x"
        )


def postgres_schema() -> str | None:
    """A DSN on a new schema of the benchmark server, or None if it is unreachable."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_bench_{uuid.uuid4().hex[:10]}"
            conn.execute(f"CREATE SCHEMA {schema}".encode())
    except Exception as exc:
        print(f"\n(PostgreSQL skipped: not reachable at '{POSTGRES_DSN}': {exc})")
        return None
    return f"{POSTGRES_DSN} options=-csearch_path={schema}"


def drop_schema(dsn: str) -> None:
    import psycopg

    schema = dsn.rsplit("search_path=", 1)[1]
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def report(name: str, ours: float, baseline: float, memory: float, verdict: str) -> None:
    print(
        f"{name:<18} {ours:>9.1f} us/step   raw driver {baseline:>8.1f} us/step   "
        f"ratio {ours / baseline:>5.2f}x   persistence share {ours - memory:>8.1f} us   "
        f"({verdict})"
    )


Runner = Callable[[int], Awaitable[float]]


async def interleaved(runners: dict[str, Runner], count: int) -> dict[str, float]:
    """Median us/step of each runner over ROUNDS rounds that alternate between them.

    The machine is shared: alternating in short rounds exposes every runner to the same load.
    """
    each = max(1, count // ROUNDS)
    figures: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(ROUNDS):
        for name, runner in runners.items():
            figures[name].append(await runner(each))
    return {name: statistics.median(values) for name, values in figures.items()}


async def profiled(runner: Runner, count: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    await runner(count)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


async def main(count: int, profile: str | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="ruvon-bench-persistence-"))
    config = work / "config"
    config.mkdir()
    (config / "chain.yaml").write_text(chain_yaml(), encoding="utf-8")
    (config / "manual.yaml").write_text(chain_yaml("Manual", automate=False), encoding="utf-8")
    builder = WorkflowBuilder(config_dir=config)
    print(
        f"workload: {count} workflows x {STEPS} no-op STANDARD steps, run one after another, "
        f"SyncExecutor; each step committed (workflow row + log row); creation save included; "
        f"median of {ROUNDS} rounds alternating with the baseline"
    )
    await run_workflows(builder, InMemoryPersistenceProvider(), 20)  # warm-up: imports, caches
    memory = await run_workflows(builder, InMemoryPersistenceProvider(), count)
    # The raw baselines store the same definition (an update rewrites the whole row in SQLite).
    sample = await builder.create_workflow(
        "Chain", persistence_provider=InMemoryPersistenceProvider()
    )
    definition = json.dumps(sample.to_record().definition)
    print(f"{'in-memory (engine)':<18} {memory:>9.1f} us/step   (the engine alone, no database)")

    for synchronous in ("NORMAL", "FULL"):
        store = SQLitePersistenceProvider(work / f"bench-{synchronous}.db", synchronous)
        raw_path = work / f"raw-{synchronous}.db"
        runners: dict[str, Runner] = {
            "ours": functools.partial(run_workflows, builder, store),
            "raw": functools.partial(raw_sqlite, raw_path, synchronous, definition),
            "leased": functools.partial(
                raw_sqlite, work / f"leased-{synchronous}.db", synchronous, definition, leased=True
            ),
        }
        if profile == "sqlite" and synchronous == "NORMAL":
            await profiled(runners["ours"], count)
        got = await interleaved(runners, count)
        if synchronous == "NORMAL":
            met = got["ours"] / got["raw"] <= TARGET_RATIO_SQLITE
            verdict = f"{'meets' if met else 'MISSES'} target <= {TARGET_RATIO_SQLITE}x raw"
        else:
            verdict = "informational: bound by one fsync per commit"
        report(f"SQLite {synchronous}", got["ours"], got["raw"], memory, verdict)
        print(
            f"{'':<18} raw driver with ruvon's lease statements {got['leased']:>8.1f} us/step   "
            f"ratio {got['ours'] / got['leased']:>5.2f}x (the engine's Python alone)"
        )
    runners = {
        "ours": functools.partial(
            run_workflows,
            builder,
            SQLitePersistenceProvider(work / "manual.db", "NORMAL"),
            step_by_step=True,
        ),
        "raw": functools.partial(raw_sqlite_step_by_step, work / "manual-raw.db", definition),
    }
    got = await interleaved(runners, count)
    print(
        f"{'step by step':<18} {got['ours']:>9.1f} us/step   raw driver, lease + save per step "
        f"{got['raw']:>8.1f} us/step   ratio {got['ours'] / got['raw']:>5.2f}x   (SQLite NORMAL, "
        f"one next_step() per step: the lease statement and one transaction, informational)"
    )
    await group_commit(builder, work, count)

    dsn = postgres_schema()
    if dsn is not None:
        from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

        try:
            runners = {
                "ours": functools.partial(run_workflows, builder, PostgresPersistenceProvider(dsn)),
                "raw": functools.partial(raw_postgres, dsn, definition),
                "one": functools.partial(raw_postgres_one_statement, dsn, definition),
                "leased": functools.partial(
                    raw_postgres_one_statement, dsn, definition, leased=True
                ),
            }
            if profile == "postgres":
                await profiled(runners["ours"], count)
            got = await interleaved(runners, count)
            met = got["ours"] <= TARGET_US_POSTGRES
            verdict = f"{'meets' if met else 'MISSES'} target {TARGET_US_POSTGRES:.0f} us"
            print()
            report("PostgreSQL", got["ours"], got["raw"], memory, verdict)
            print(
                f"{'':<18} raw driver, one statement per step (CTE) {got['one']:>8.1f} us/step   "
                f"ratio {got['ours'] / got['one']:>5.2f}x"
            )
            print(
                f"{'':<18} the same with ruvon's lease statements {got['leased']:>8.1f} us/step   "
                f"ratio {got['ours'] / got['leased']:>5.2f}x (the engine's Python alone)"
            )
        finally:
            drop_schema(dsn)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the definition imports this file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--profile", choices=["sqlite", "postgres"])
    options = parser.parse_args()
    asyncio.run(main(options.workflows, options.profile))
