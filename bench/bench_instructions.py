"""Instructions per step of the 10-step in-memory chain, ours against ruvon-sdk 0.1.5 (callgrind).

Wall times on a shared 2-core machine move by 30 % from run to run; instruction counts do not.
Each side runs the same chain twice under ``valgrind --tool=callgrind``, once with N and once with
4N workflows; the difference, divided by the extra steps, is the cost of one step with start-up,
imports and warm-up taken out (creating the workflow is included, a tenth of it per step).

Run: python bench/bench_instructions.py [--seeds 0,7]   (needs valgrind; builds bench/.peer/)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_kit sits beside this file

import bench_kit

HERE = Path(__file__).resolve().parent
STEPS, SMALL = 10, 10
PEER_SDK = "ruvon-sdk==0.1.5"

# Ours: runs 4*W workflows of the chain after a warm-up of 20 (the same setup as bench_core).
OURS = """
import asyncio, sys
sys.path.insert(0, {here!r})
import bench_kit
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

async def main(count: int) -> None:
    text = bench_kit.chain_yaml({steps})
    builder = WorkflowBuilder(config_dir=bench_kit.config_dir(**{{"chain.yaml": text}}))
    store, executor, observer = InMemoryPersistenceProvider(), SyncExecutor(), NoopObserver()
    for _ in range(20 + count):
        workflow = await builder.create_workflow(
            "Chain", persistence_provider=store, execution_provider=executor,
            workflow_observer=observer,
        )
        await workflow.next_step()
        assert workflow.state.n == {steps}

asyncio.run(main(int(sys.argv[1])))
"""


# The SQLite workload of bench_persistence (NORMAL, every step committed): ours, the raw driver
# doing the same rows, and the raw driver also sending ruvon's lease statements.
SQLITE = """
import asyncio, json, sys, tempfile
from pathlib import Path
sys.path.insert(0, {here!r})
import bench_persistence as bp
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

async def main(kind: str, count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ruvon-instr-sqlite-"))
    (work / "config").mkdir()
    (work / "config" / "chain.yaml").write_text(bp.chain_yaml(), encoding="utf-8")
    builder = WorkflowBuilder(config_dir=work / "config")
    sample = await builder.create_workflow(
        "Chain", persistence_provider=InMemoryPersistenceProvider()
    )
    definition = json.dumps(sample.to_record().definition)
    for n, name in ((20, "warm.db"), (count, "run.db")):
        if kind == "ours":
            await bp.run_workflows(builder, SQLitePersistenceProvider(work / name, "NORMAL"), n)
        else:
            await bp.raw_sqlite(work / name, "NORMAL", definition, n, leased=kind == "leased")

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def instructions(command: list[str], seed: str) -> int:
    """Instructions callgrind counted for ``command`` (the whole process)."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total for {command}: {done.stderr[-300:]}")
    return int(found.group(1))


def per_step(command: list[str], small: int, large: int, steps_between: int, seed: str) -> float:
    """Instructions per step: the difference of a large and a small run over the extra steps."""
    return (
        instructions([*command, str(large)], seed) - instructions([*command, str(small)], seed)
    ) / steps_between


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0,7", help="PYTHONHASHSEED values, one pair each")
    parser.add_argument(
        "--sqlite", action="store_true", help="also the SQLite workload against the raw driver"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("== instructions per step: not measured: valgrind is not installed")
        return
    peer = bench_kit.peer_python(PEER_SDK)
    if not isinstance(peer, Path):
        print(f"== instructions per step: not measured: {peer}")
        return
    with tempfile.TemporaryDirectory(prefix="ruvon-instr-") as tmp:
        script = Path(tmp) / "ours_chain.py"
        script.write_text(OURS.format(here=str(HERE), steps=STEPS), encoding="utf-8")
        for seed in args.seeds.split(","):
            # Ours: 4*SMALL and 16*SMALL workflows; the SDK's script runs each count 4 times
            # (a warm-up and three timed rounds), so SMALL and 2*SMALL give it 4*SMALL more.
            ours = per_step(
                [sys.executable, str(script)], 4 * SMALL, 16 * SMALL, 12 * SMALL * STEPS, seed
            )
            theirs = per_step(
                [str(peer), str(HERE / "peer_sdk_chain.py")],
                SMALL,
                2 * SMALL,
                4 * SMALL * STEPS,
                seed,
            )
            if seed == args.seeds.split(",")[0]:
                print("\n== instructions per step vs ruvon-sdk 0.1.5 (callgrind)")
                print(
                    f"   workload: {STEPS}-step no-op chain, SyncExecutor, in memory, "
                    f"NoopObserver; creation included"
                )
            print(
                f"   PYTHONHASHSEED={seed}: ruvon {ours / 1000:.1f}k, ruvon-sdk "
                f"{theirs / 1000:.1f}k instructions/step; ratio {ours / theirs:.3f}x "
                f"(target: <= 0.3x)"
            )
        if args.sqlite:
            sqlite_figures(Path(tmp), args.seeds.split(",")[0])


def sqlite_figures(tmp: Path, seed: str) -> None:
    """Instructions per step on SQLite: ours, the raw driver, the raw driver with the lease."""
    script = tmp / "sqlite_chain.py"
    script.write_text(SQLITE.format(here=str(HERE)), encoding="utf-8")
    steps = 12 * SMALL * STEPS
    got = {
        kind: per_step([sys.executable, str(script), kind], 4 * SMALL, 16 * SMALL, steps, seed)
        for kind in ("ours", "raw", "leased")
    }
    print("\n== instructions per step on SQLite NORMAL, every step committed (callgrind)")
    print(
        f"   PYTHONHASHSEED={seed}: ruvon {got['ours'] / 1000:.1f}k, raw driver "
        f"{got['raw'] / 1000:.1f}k (ratio {got['ours'] / got['raw']:.2f}x, target <= 1.25x), "
        f"raw driver with ruvon's lease statements {got['leased'] / 1000:.1f}k "
        f"(ratio {got['ours'] / got['leased']:.2f}x)"
    )


if __name__ == "__main__":
    main()
