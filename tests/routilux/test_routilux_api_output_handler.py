"""Output handlers, as the routilux 0.10 reference describes them."""

from __future__ import annotations

import queue
from typing import Any

import pytest
from routilux_signature_kit import REQUIRED, assert_signature

from routilux import (
    CallbackOutputHandler,
    Flow,
    JobState,
    NullOutputHandler,
    OutputHandler,
    QueueOutputHandler,
    Routine,
)


def test_signatures_and_abstract_base() -> None:
    for cls in (OutputHandler, QueueOutputHandler, CallbackOutputHandler, NullOutputHandler):
        assert_signature(
            cls.handle,
            ("job_id", REQUIRED), ("routine_id", REQUIRED), ("output_type", REQUIRED),
            ("data", REQUIRED), ("timestamp", None),
        )  # fmt: skip
    assert_signature(QueueOutputHandler.__init__, ("queue", REQUIRED))
    assert_signature(CallbackOutputHandler.__init__, ("callback", REQUIRED))
    with pytest.raises(TypeError):
        OutputHandler()  # type: ignore[abstract]


def test_send_output_from_a_routine_reaches_every_kind() -> None:
    class Talker(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("trigger", handler=lambda **kw: self.send_output("progress", pct=100))

    got: list[Any] = []
    outputs: queue.Queue[dict[str, Any]] = queue.Queue()
    for handler in (QueueOutputHandler(outputs), CallbackOutputHandler(lambda *a: got.append(a)),
                    NullOutputHandler()):  # fmt: skip
        with Flow() as flow:
            flow.add_routine(Talker(), "talker")
            job = JobState(flow.flow_id)
            job.set_output_handler(handler)
            # send_output goes through the running job; attach the handler on that job.
            job = flow.execute("talker")
            job.set_output_handler(handler)
            job.send_output("talker", "progress", {"pct": 1})
            assert job.output_log[0]["data"] == {"pct": 100}
    assert outputs.get_nowait()["data"] == {"pct": 1}
    assert got[0][:4] == (got[0][0], "talker", "progress", {"pct": 1})
