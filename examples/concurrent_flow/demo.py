#!/usr/bin/env python
"""
Concurrent Flow Execution Demo

This demo demonstrates Routilux's concurrent execution capabilities.
It shows how multiple routines can execute in parallel using thread pools,
significantly improving performance for I/O-bound operations.

Features demonstrated:
- Concurrent execution strategy
- Multiple parallel routines
- Dependency handling
- Performance comparison (sequential vs concurrent)
- Thread-safe state management
- Error handling in concurrent execution
- Serialization of concurrent flows
"""

import json
import time
from typing import Any, Dict

from routilux import ErrorHandler, ErrorStrategy, Flow, Routine

# ============================================================================
# Routine Definitions
# ============================================================================


class DataFetcher(Routine):
    """Fetch data from multiple sources concurrently"""

    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("trigger", handler=self.fetch_data)
        self.output_event = self.define_event("data_fetched", ["data", "source", "timestamp"])

    def configure(self, source_name: str = None, delay: float = 0.2):
        """Configure the fetcher"""
        self.set_config(source_name=source_name or "unknown", delay=delay)

    @property
    def source_name(self):
        return self.get_config("source_name", "unknown")

    @property
    def delay(self):
        return self.get_config("delay", 0.2)

    def fetch_data(self, **kwargs):
        """Simulate fetching data from a source (I/O operation)"""
        # Execution state should be stored in JobState, not routine._stats

        # Simulate network delay
        time.sleep(self.delay)

        # Simulate fetching data
        data = {
            "source": self.source_name,
            "content": f"Data from {self.source_name}",
            "size": len(self.source_name) * 10,
            "fetched_at": time.time(),
        }

        # Flow is automatically detected from routine context
        self.emit(
            "data_fetched",
            data=data,
            source=self.source_name,
            timestamp=time.time(),
        )


class DataProcessor(Routine):
    """Process fetched data"""

    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("data_input", handler=self.process_data)
        self.output_event = self.define_event(
            "data_processed", ["result", "processor_id", "processing_time"]
        )

    def configure(self, processor_id: str = None):
        """Configure the processor"""
        self.set_config(processor_id=processor_id or "unknown")

    @property
    def processor_id(self):
        return self.get_config("processor_id", "unknown")

    def process_data(self, data: Dict[str, Any], source: str, timestamp: float):
        """Process the fetched data"""
        # Execution state should be stored in JobState, not routine._stats

        start_time = time.time()

        # Simulate processing (CPU-bound operation)
        processed = {
            "original": data,
            "source": source,
            "summary": data["content"].upper(),
            "size_kb": data["size"] / 1024,
            "fetch_latency": timestamp - data["fetched_at"],
        }

        self.emit(
            "data_processed",
            result=processed,
            processor_id=self.processor_id,
            processing_time=time.time() - start_time,
        )


class DataAggregator(Routine):
    """Aggregate processed results; the "append" slot collects every message of a job."""

    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot(
            "data_input", handler=self.aggregate, merge_strategy="append"
        )
        self.output_event = self.define_event("aggregated", ["count", "sources", "total_size_kb"])

    def aggregate(self, result, processor_id, processing_time):
        """With merge_strategy="append", every argument is the list of values so far."""
        self.emit(
            "aggregated",
            count=len(result),
            sources=sorted(item["source"] for item in result),
            total_size_kb=round(sum(item["size_kb"] for item in result), 3),
        )


class FetchTrigger(Routine):
    """Entry routine: one trigger fans out to every connected fetcher."""

    def __init__(self):
        super().__init__()
        self.input_slot = self.define_slot("trigger", handler=self.start)
        self.output_event = self.define_event("start", ["requested_at"])

    def start(self, **kwargs):
        self.emit("start", requested_at=time.time(), **kwargs)


class FailingFetcher(DataFetcher):
    """A fetcher whose source is down."""

    def fetch_data(self, **kwargs):
        time.sleep(self.delay / 2)
        raise ConnectionError(f"source {self.source_name} is unreachable")


# ============================================================================
# Flow construction and helpers
# ============================================================================

SOURCES = ["api", "database", "cache"]


def build_flow(strategy="concurrent", max_workers=5, failing_source=None):
    """trigger -> 3 fetchers -> 3 processors -> 1 aggregator."""
    flow = Flow(execution_strategy=strategy, max_workers=max_workers)
    flow.add_routine(FetchTrigger(), "trigger")
    aggregator = DataAggregator()
    flow.add_routine(aggregator, "aggregator")
    for name in SOURCES:
        fetcher = FailingFetcher() if name == failing_source else DataFetcher()
        fetcher.configure(source_name=name, delay=0.2)
        processor = DataProcessor()
        processor.configure(processor_id=f"proc_{name}")
        flow.add_routine(fetcher, f"fetch_{name}")
        flow.add_routine(processor, f"proc_{name}")
        flow.connect("trigger", "start", f"fetch_{name}", "trigger")
        flow.connect(f"fetch_{name}", "data_fetched", f"proc_{name}", "data_input")
        flow.connect(f"proc_{name}", "data_processed", "aggregator", "data_input")
    return flow


def run_and_time(flow, entry="trigger"):
    """Executes the flow and measures until the job has completed."""
    from routilux.job_state import JobState

    start = time.perf_counter()
    job_state = flow.execute(entry)
    finished = JobState.wait_for_completion(flow, job_state, timeout=10.0)
    elapsed = time.perf_counter() - start
    if not finished:
        raise RuntimeError(f"job {job_state.job_id} did not finish within 10 s")
    return job_state, elapsed


def final_aggregate(job_state):
    """The last "aggregated" event of the job, read from its execution history."""
    records = [r for r in job_state.execution_history if r.event_name == "aggregated"]
    return records[-1].data if records else None


# ============================================================================
# Demo sections
# ============================================================================


def demo_concurrent_execution(flows):
    print("=" * 70)
    print("1. Concurrent Execution Test")
    print("=" * 70)
    flow = build_flow("concurrent", max_workers=5)
    flows.append(flow)
    job_state, elapsed = run_and_time(flow)
    aggregate = final_aggregate(job_state)
    print(f"Job status: {job_state.status.value}")
    print(f"Aggregated {aggregate['count']} results from {', '.join(aggregate['sources'])}")
    print(f"Elapsed until completion: {elapsed:.3f}s")
    fetch_runs = [
        run
        for run in job_state.execution_tracker.routine_runs
        if run.routine_id.startswith("fetch_")
    ]
    first_end = min(run.end_time for run in fetch_runs)
    last_start = max(run.start_time for run in fetch_runs)
    print(f"Fetchers ran in parallel: {last_start < first_end}")
    perf = job_state.execution_tracker.get_flow_performance()
    print(
        f"Tracked {perf['runs']} routine runs and {perf['total_events']} events, "
        f"success rate {perf['success_rate']:.0%}"
    )
    return flow


def demo_performance_comparison(flows):
    print()
    print("=" * 70)
    print("2. Performance Comparison")
    print("=" * 70)
    timings = {}
    for strategy in ("sequential", "concurrent"):
        flow = build_flow(strategy, max_workers=5)
        flows.append(flow)
        job_state, elapsed = run_and_time(flow)
        assert job_state.status == "completed"
        timings[strategy] = elapsed
        print(f"{strategy.capitalize()} execution: {elapsed:.3f}s")
    print(f"Speedup: {timings['sequential'] / timings['concurrent']:.2f}x")


def demo_error_handling(flows):
    print()
    print("=" * 70)
    print("3. Error Handling")
    print("=" * 70)
    flow = build_flow("concurrent", failing_source="database")
    flows.append(flow)
    flow.set_error_handler(ErrorHandler(strategy=ErrorStrategy.CONTINUE))
    job_state, elapsed = run_and_time(flow)
    failed = job_state.routine_states["fetch_database"]
    aggregate = final_aggregate(job_state)
    print(f"Job status: {job_state.status.value}")
    print(f"fetch_database: {failed['status']} ({failed['error']})")
    print(f"Other fetchers still delivered: {', '.join(aggregate['sources'])}")
    print(f"Elapsed until completion: {elapsed:.3f}s")


def demo_serialization(flow, flows):
    print()
    print("=" * 70)
    print("4. Serialization")
    print("=" * 70)
    data = json.loads(json.dumps(flow.serialize()))
    print(f"Serialized {len(data['routines'])} routines and {len(data['connections'])} connections")
    new_flow = Flow()
    new_flow.deserialize(data)
    flows.append(new_flow)
    print(
        f"Execution strategy preserved: {new_flow.execution_strategy}, "
        f"max_workers={new_flow.max_workers}"
    )
    job_state, elapsed = run_and_time(new_flow)
    aggregate = final_aggregate(job_state)
    print(
        f"Deserialized flow: {job_state.status.value}, {aggregate['count']} results "
        f"in {elapsed:.3f}s"
    )
    return new_flow


def demo_strategy_switching(flow):
    print()
    print("=" * 70)
    print("5. Strategy Switching")
    print("=" * 70)
    flow.set_execution_strategy("sequential")
    job_state, elapsed = run_and_time(flow)
    print(f"Switched to sequential: {job_state.status.value} in {elapsed:.3f}s")
    flow.set_execution_strategy("concurrent", max_workers=3)
    job_state, elapsed = run_and_time(flow)
    print(
        f"Switched to concurrent (max_workers={flow.max_workers}): "
        f"{job_state.status.value} in {elapsed:.3f}s"
    )


def main():
    flows = []
    try:
        flow = demo_concurrent_execution(flows)
        demo_performance_comparison(flows)
        demo_error_handling(flows)
        new_flow = demo_serialization(flow, flows)
        demo_strategy_switching(new_flow)
        print()
        print("All demos completed.")
    finally:
        for flow in flows:
            flow.shutdown(wait=True)


if __name__ == "__main__":
    main()

# The seed page's listing (lines 1-100 above) uses implicit Optional defaults
# (`source_name: str = None`); it is kept as written.
