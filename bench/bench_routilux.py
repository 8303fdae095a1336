"""Benchmarks for routilux: prints each workload, its baseline and the ratio.

Run: ``.venv/bin/python bench/bench_routilux.py``. Nothing here asserts timings.

Every no-op workload is timed from the first emit to the end of the last handler
(so completion detection, which 0.10 polls for 0.25 s, is not counted).

(a) Fan-out of three routines that sleep 0.2 s, until ``wait_for_completion``
    returns; baselines: a plain loop and a bare ``ThreadPoolExecutor``.
(b) A chain of 1000 no-op routines (sequential): events/s of ours (with and
    without tracking) against routilux 0.10.0 run in a subprocess of this run, in
    its own venv under ``build/`` (gitignored; created on first use with pip).
(c) A fan-out to 1000 no-op routines (concurrent, 5 workers) against a bare
    ``ThreadPoolExecutor(5)`` making the same 1000 calls, and against 0.10.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from routilux import Flow, JobState, Routine

ROOT = Path(__file__).resolve().parents[1]
OLD_VENV = ROOT / "build" / "routilux-0.10-venv"
SLEEP = 0.2
REPEATS = 7

# The workload, as source text, so routilux 0.10 runs the very same code in its venv.
WORKLOAD = """
import json, sys, threading, time
from routilux import Flow, Routine
from routilux.job_state import JobState

MARK = {"first": 0.0, "last": 0.0}
LOCK = threading.Lock()


class Trigger(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("go")

    def run(self, **kwargs):
        MARK["first"] = time.perf_counter()
        self.emit("go")


class Link(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("go")

    def run(self, **kwargs):
        self.emit("go")
        end = time.perf_counter()
        with LOCK:
            MARK["last"] = max(MARK["last"], end)


class Leaf(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("trigger", handler=self.run)

    def run(self, **kwargs):
        end = time.perf_counter()
        with LOCK:
            MARK["last"] = max(MARK["last"], end)


def build(kind, count, extra):
    if kind == "chain":
        flow = Flow(execution_strategy="sequential", **extra)
    else:
        flow = Flow(execution_strategy="concurrent", max_workers=5, **extra)
    flow.add_routine(Trigger(), "trigger")
    previous = "trigger"
    for index in range(count):
        flow.add_routine(Link() if kind == "chain" else Leaf(), f"w{index}")
        flow.connect(previous, "go", f"w{index}", "trigger")
        if kind == "chain":
            previous = f"w{index}"
    return flow


def measure(kind, count, repeats, extra):
    flow = build(kind, count, extra)
    times = []
    try:
        for _ in range(repeats):
            MARK["first"] = MARK["last"] = 0.0
            job = flow.execute("trigger")
            JobState.wait_for_completion(flow, job, timeout=120)
            times.append(MARK["last"] - MARK["first"])
    finally:
        flow.shutdown(wait=True)
    return times
"""

OLD_RUNNER = (
    WORKLOAD
    + """
kind, count, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(json.dumps(measure(kind, count, repeats, {})))
"""
)

_namespace: dict[str, Any] = {"__name__": "routilux_bench_workload"}
exec(compile(WORKLOAD, "<routilux workload>", "exec"), _namespace)  # our own source text
measure = _namespace["measure"]


def old_python() -> Path | None:
    """The routilux 0.10 venv's interpreter, created on first use; None if pip fails."""
    python = OLD_VENV / "bin" / "python"
    if not python.exists():
        print(f"    creating {OLD_VENV} with routilux==0.10.0 (once) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(OLD_VENV)], check=True)
            packages = ["routilux==0.10.0", "serilux>=0.3.1,<0.4"]
            subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"    cannot install routilux 0.10 ({exc}); skipping the 0.10 comparison")
            return None
    return python


def measure_old(kind: str, count: int) -> float | None:
    python = old_python()
    if python is None:
        return None
    result = subprocess.run(
        [str(python), "-c", OLD_RUNNER, kind, str(count), str(REPEATS)],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",  # so the repo's src/ cannot shadow the installed 0.10
        timeout=600,
    )
    if result.returncode != 0:
        print(f"    routilux 0.10 run failed: {result.stderr.strip()[-300:]}")
        return None
    return statistics.median(json.loads(result.stdout))


def pool_calls(count: int, workers: int) -> float:
    """A bare ThreadPoolExecutor making ``count`` no-op calls, first submit to last end."""
    ends: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        end = time.perf_counter()
        with lock:
            ends.append(end)

    times = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(REPEATS):
            ends.clear()
            start = time.perf_counter()
            futures = [pool.submit(call) for _ in range(count)]
            for future in futures:
                future.result()
            times.append(max(ends) - start)
    return statistics.median(times)


def bench_sleep_fan_out() -> None:
    print("(a) fan-out: trigger -> 3 routines sleeping 0.2 s, until wait_for_completion")

    class Sleepy(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda **kw: time.sleep(SLEEP))

    results = {}
    for strategy in ("sequential", "concurrent"):
        flow = Flow(execution_strategy=strategy, max_workers=5)
        flow.add_routine(_namespace["Trigger"](), "trigger")
        for index in range(3):
            flow.add_routine(Sleepy(), f"s{index}")
            flow.connect("trigger", "go", f"s{index}", "trigger")
        times = []
        for _ in range(3):
            start = time.perf_counter()
            job = flow.execute("trigger")
            JobState.wait_for_completion(flow, job, timeout=10)
            times.append(time.perf_counter() - start)
        flow.shutdown()
        results[strategy] = statistics.median(times)
    print(
        f"    routilux sequential       {results['sequential']:.3f} s   (loop of 3 sleeps 0.600 s)"
    )
    print(f"    routilux concurrent       {results['concurrent']:.3f} s   (one sleep 0.200 s)")


def report(label: str, events: int, seconds: float, base: float | None, base_label: str) -> None:
    line = f"    {label:<34}{seconds * 1000:8.2f} ms {events / seconds:12,.0f} events/s"
    if base is not None:
        line += f"   {base_label} {base / seconds:.2f}"
    print(line)


def main() -> None:
    bench_sleep_fan_out()
    count = 1000
    print(f"(b) chain of {count} no-op routines, sequential ({count + 1} events)")
    old_chain = measure_old("chain", count)
    ours = statistics.median(measure("chain", count, REPEATS, {}))
    lean = statistics.median(measure("chain", count, REPEATS, {"track": False}))
    if old_chain is not None:
        report("routilux 0.10.0 (subprocess)", count + 1, old_chain, None, "")
    report("ours, track=True", count + 1, ours, old_chain, "speedup vs 0.10:")
    report("ours, track=False", count + 1, lean, old_chain, "speedup vs 0.10:")
    print("    target: >= 5x 0.10's events/s")
    print(f"(c) fan-out to {count} no-op routines, concurrent, 5 workers")
    pool = pool_calls(count, 5)
    old_fan = measure_old("fanout", count)
    ours = statistics.median(measure("fanout", count, REPEATS, {}))
    lean = statistics.median(measure("fanout", count, REPEATS, {"track": False}))
    report("baseline ThreadPoolExecutor(5)", count, pool, None, "")
    if old_fan is not None:
        report("routilux 0.10.0 (subprocess)", count, old_fan, None, "")
    print(f"    ours, track=True   {ours * 1000:8.2f} ms   ratio to pool {ours / pool:.2f}x")
    print(f"    ours, track=False  {lean * 1000:8.2f} ms   ratio to pool {lean / pool:.2f}x")
    print("    target: ratio to pool <= 1.5x")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
