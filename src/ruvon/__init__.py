"""Ruvon: durable, parallel workflows defined in YAML over a pydantic state model.

Importing ruvon installs a small ``sys.excepthook`` (only if none was installed before) that prints an
uncaught :class:`~ruvon.errors.RuvonError` as its one-sentence message instead of a traceback wall.
Set ``RUVON_TRACEBACK=1`` to get the full traceback.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

from ruvon.errors import RuvonError

__version__ = "0.1.0"
__all__ = ["RuvonError", "__version__"]


def _short_ruvon_errors(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(exc_type, RuvonError) and not os.environ.get("RUVON_TRACEBACK"):
        sys.stderr.write(
            f"ruvon: {exc_type.__name__}: {exc}\n(Set RUVON_TRACEBACK=1 for the full traceback.)\n"
        )
        return
    sys.__excepthook__(exc_type, exc, tb)


if sys.excepthook is sys.__excepthook__:
    sys.excepthook = _short_ruvon_errors
