"""A ``sys.excepthook`` that prints an uncaught :class:`~ruvon.errors.RuvonError` as one sentence.

``import ruvon`` leaves ``sys.excepthook`` alone. The hook is installed by the ``ruvon`` command at
start-up, and otherwise the first time a ruvon error is created (see ``RuvonError.__init__``): a
plain ``python main.py`` whose definition is broken then ends with the error's sentence instead of
a traceback wall, while a program that never meets a ruvon error keeps the interpreter's default.
A hook installed by someone else (IPython, an error tracker) is never replaced. Set
``RUVON_TRACEBACK=1`` to get the full traceback.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType


def short_ruvon_errors(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """Print a RuvonError as ``ruvon: <Type>: <message>``; anything else as Python would."""
    from ruvon.errors import RuvonError

    if issubclass(exc_type, RuvonError) and not os.environ.get("RUVON_TRACEBACK"):
        sys.stderr.write(
            f"ruvon: {exc_type.__name__}: {exc}\n(Set RUVON_TRACEBACK=1 for the full traceback.)\n"
        )
        return
    sys.__excepthook__(exc_type, exc, tb)


def install_short_errors() -> None:
    """Install :func:`short_ruvon_errors` unless another hook than Python's default is in place."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = short_ruvon_errors
