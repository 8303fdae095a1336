"""Routines shared by the routilux tests (importable by path for serialization)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from routilux import Routine


class Source(Routine):
    """Entry routine: emits ``out`` with whatever it was triggered with."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("out")

    def run(self, **kwargs: Any) -> None:
        self.emit("out", **kwargs)


class Recorder(Routine):
    """Records every call of its ``in`` slot; emits ``out`` with the same data."""

    def __init__(self, merge_strategy: Any = "override") -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.define_slot("in", handler=self.receive, merge_strategy=merge_strategy)
        self.define_event("out")

    def receive(self, **kwargs: Any) -> None:
        with self.lock:
            self.calls.append(kwargs)
        path = self.get_config("log_path")
        if path:
            with Path(path).open("a", encoding="utf-8") as log:
                log.write(f"{self.get_config('name')}\n")
        delay = self.get_config("delay", 0.0)
        if delay:
            time.sleep(delay)
        self.emit("out", **kwargs)


class Sleeper(Routine):
    """Sleeps ``delay`` seconds on ``trigger`` and emits ``done``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("trigger", handler=self.run)
        self.define_event("done", ["name"])

    def run(self, **kwargs: Any) -> None:
        time.sleep(self.get_config("delay", 0.05))
        self.emit("done", name=self.get_config("name", "?"))


class Flaky(Routine):
    """Fails its first ``fail_times`` calls (per routine object), then emits ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[tuple[Any, float]] = []
        self.lock = threading.Lock()
        self.define_slot("trigger", handler=self.run)
        self.define_event("out")

    def run(self, **kwargs: Any) -> None:
        with self.lock:
            self.attempts.append((kwargs.get("key"), time.monotonic()))
            calls = sum(1 for key, _ in self.attempts if key == kwargs.get("key"))
        if calls <= self.get_config("fail_times", 1_000_000):
            raise self.get_config("error_class", RuntimeError)(f"attempt {calls} failed")
        self.emit("out", **kwargs)


class Gate(Routine):
    """Entry routine that blocks until released, then emits ``out`` to its fan-out."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()
        self.define_slot("trigger", handler=self.run)
        self.define_event("out")

    def run(self, **kwargs: Any) -> None:
        self.started.set()
        self.release.wait(10)
        for index in range(self.get_config("fan_out", 3)):
            self.emit("out", index=index)


def keep_larger(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge function: keeps the larger ``value`` seen so far in the execution."""
    if old and old["value"] >= new["value"]:
        return old
    return new


def kick(flow: Any, target: str = "gate") -> str:
    """Adds an entry routine ``kick`` feeding ``target``'s trigger, so a blocking
    routine runs on a worker (the entry handler runs in the caller's thread)."""
    flow.add_routine(Source(), "kick")
    flow.connect("kick", "out", target, "trigger")
    return "kick"
