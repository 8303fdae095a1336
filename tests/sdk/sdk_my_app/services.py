"""Stand-ins for the external services the saga guide's steps call (patched by its test)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

_ids = itertools.count(1)


def _new(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _noop(*args: Any) -> None:
    return None


inventory_service = SimpleNamespace(reserve=lambda items: _new("RES"), release=_noop)
payment_service = SimpleNamespace(
    charge=lambda customer_id, amount: _new("TXN"), refund=lambda txn: _new("REF")
)
shipping_service = SimpleNamespace(ship=lambda order_id, items: _new("SHIP"), cancel=_noop)
