"""Reading environment variables on hot paths (every workflow created or driven).

``os.environ.get`` of an unset variable goes through the Mapping mixin, encodes the name and
raises and catches a KeyError: a few microseconds, paid several times per workflow. On POSIX,
``os.environ`` keeps its data in a dict of bytes (``os.environ._data``, updated by every write
through ``os.environ``); :func:`env_get` reads that dict directly and falls back to
``os.environ.get`` elsewhere.
"""

from __future__ import annotations

import os
import sys

_DATA: object = getattr(os.environ, "_data", None)
_POSIX = os.name == "posix" and type(_DATA) is dict
_ENCODING = sys.getfilesystemencoding()


_KEYS: dict[str, bytes] = {}


def env_get(name: str, default: str = "") -> str:
    """``os.environ.get(name, default)``, cheaper for the unset case (see the module docstring)."""
    if _POSIX:
        key = _KEYS.get(name)
        if key is None:
            key = _KEYS[name] = name.encode(_ENCODING, "surrogateescape")
        raw = _DATA.get(key)  # type: ignore[attr-defined]
        return default if raw is None else os.fsdecode(raw)
    return os.environ.get(name, default)
