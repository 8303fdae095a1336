"""New workflow ids: random (version 4) UUIDs as text, made without building a ``uuid.UUID``."""

from __future__ import annotations

import os


def new_workflow_id() -> str:
    """A new random UUID in its usual text form (``str(uuid.uuid4())``, at a third of the cost)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
