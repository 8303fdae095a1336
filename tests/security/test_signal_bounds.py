"""Signal data arrives from outside (CLI, HTTP): oversized, badly named or deeply nested data is
refused with a RuvonError naming the signal, quickly, before anything is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ruvon.errors import RuvonError
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.runtime.events import send_signal


def _deep(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    node = top
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return top


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("go", {"x": "a" * (1024 * 1024)}, "at most 262144 are accepted"),
        ("n" * 10_000, {}, "at most 200 characters"),
        ("go", _deep(100_000), "nests too deeply"),
        ("go", ["not", "a", "dict"], "must be a JSON object"),
    ],
)
async def test_bad_signals_are_refused_naming_the_signal(
    tmp_path: Path, name: str, data: Any, expected: str
) -> None:
    store = SQLitePersistenceProvider(db_path=str(tmp_path / "ruvon.db"))
    await store.initialize()
    try:
        with pytest.raises(RuvonError, match=expected):
            await send_signal(store, "some-workflow", name, data)
    finally:
        await store.close()
