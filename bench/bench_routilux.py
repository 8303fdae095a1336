"""Benchmarks for routilux: prints each workload, its baseline and the ratio.

Run: ``.venv/bin/python bench/bench_routilux.py``. Nothing here asserts timings.

(a) Fan-out of three routines that sleep 0.2 s, timed until
    ``JobState.wait_for_completion`` returns; baseline: a plain loop and a bare
    ``ThreadPoolExecutor`` making the same sleeps.
(b) A chain of 1000 no-op routines and a fan-out to 1000 no-op routines: events per
    second, and the delay from the end of the last handler to
    ``wait_for_completion`` returning; baseline: a plain loop and a bare
    ``ThreadPoolExecutor`` making the same 1000 calls.
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from routilux import Flow, JobState, Routine

SLEEP = 0.2
REPEATS = 5
LAST_END: list[float] = []
_LOCK = threading.Lock()


class Trigger(Routine):
    """Entry routine: emits ``go`` once."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("go")

    def run(self) -> None:
        self.emit("go")


class Worker(Routine):
    """Sleeps ``delay`` (0 = no-op), notes when it ended, emits ``go``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("go")

    def run(self) -> None:
        delay = self.get_config("delay", 0.0)
        if delay:
            time.sleep(delay)
        self.emit("go")
        end = time.perf_counter()
        with _LOCK:
            LAST_END.append(end)


def fan_out_flow(count: int, delay: float, strategy: str, workers: int) -> Flow:
    flow = Flow(execution_strategy=strategy, max_workers=workers)
    flow.add_routine(Trigger(), "trigger")
    for index in range(count):
        worker = Worker()
        worker.set_config(delay=delay)
        flow.add_routine(worker, f"w{index}")
        flow.connect("trigger", "go", f"w{index}", "trigger")
    return flow


def chain_flow(count: int) -> Flow:
    flow = Flow(execution_strategy="sequential")
    flow.add_routine(Trigger(), "trigger")
    previous = "trigger"
    for index in range(count):
        flow.add_routine(Worker(), f"w{index}")
        flow.connect(previous, "go", f"w{index}", "trigger")
        previous = f"w{index}"
    return flow


def run_job(flow: Flow) -> tuple[float, float, int]:
    """Returns (seconds until completion, completion delay, events emitted)."""
    LAST_END.clear()
    start = time.perf_counter()
    job = flow.execute("trigger")
    assert JobState.wait_for_completion(flow, job, timeout=60)
    done = time.perf_counter()
    assert job.status == "completed", job.error
    return done - start, done - max(LAST_END), len(job.execution_history)


def median_of(measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(REPEATS))


def loop_calls(count: int, call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return time.perf_counter() - start


def pool_calls(count: int, workers: int, call: Callable[[], Any]) -> float:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        wait([pool.submit(call) for _ in range(count)])
        return time.perf_counter() - start


def bench_sleep_fan_out() -> None:
    print("(a) fan-out: trigger -> 3 routines sleeping 0.2 s, until wait_for_completion")
    results = {}
    for strategy in ("sequential", "concurrent"):
        flow = fan_out_flow(3, SLEEP, strategy, workers=5)
        try:
            results[strategy] = median_of(lambda f=flow: run_job(f)[0])
        finally:
            flow.shutdown()
    loop = median_of(lambda: loop_calls(3, lambda: time.sleep(SLEEP)))
    pool = median_of(lambda: pool_calls(3, 3, lambda: time.sleep(SLEEP)))
    print(f"    routilux sequential       {results['sequential']:.3f} s")
    print(f"    baseline plain loop       {loop:.3f} s   ratio {results['sequential'] / loop:.3f}")
    print(f"    routilux concurrent       {results['concurrent']:.3f} s   (target <= 0.21 s)")
    print(f"    baseline ThreadPool(3)    {pool:.3f} s   ratio {results['concurrent'] / pool:.3f}")
    print(
        f"    speedup concurrent vs sequential {results['sequential'] / results['concurrent']:.2f}x"
    )


def bench_no_op(name: str, flow: Flow, baseline: Callable[[], float], label: str) -> None:
    try:
        runs = [run_job(flow) for _ in range(REPEATS)]
    finally:
        flow.shutdown()
    elapsed = statistics.median(r[0] for r in runs)
    delay = statistics.median(r[1] for r in runs)
    events = runs[0][2]
    base = median_of(baseline)
    print(f"(b) {name}: {events} events")
    print(
        f"    routilux                  {elapsed * 1000:8.1f} ms   {events / elapsed:10,.0f} events/s"
    )
    print(f"    baseline {label:<17}{base * 1000:8.1f} ms   {events / base:10,.0f} calls/s")
    print(f"    ratio routilux/baseline   {elapsed / base:8.1f}x   (target >= 30,000 events/s)")
    print(
        f"    last handler end -> wait_for_completion returns: {delay * 1000:.3f} ms "
        "(target <= 5 ms)"
    )


def no_op() -> None:
    LAST_END.append(time.perf_counter())


def main() -> None:
    bench_sleep_fan_out()
    bench_no_op(
        "chain of 1000 no-op routines (sequential)",
        chain_flow(1000),
        lambda: loop_calls(1000, no_op),
        "plain loop",
    )
    bench_no_op(
        "fan-out to 1000 no-op routines (concurrent, 5 workers)",
        fan_out_flow(1000, 0.0, "concurrent", workers=5),
        lambda: pool_calls(1000, 5, no_op),
        "ThreadPool(5)",
    )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
