"""Ruvon: durable, parallel workflows defined in YAML over a pydantic state model.

Importing ruvon changes no interpreter-wide setting. The ``ruvon`` command (and a plain script, once a
ruvon error occurs) prints an uncaught :class:`~ruvon.errors.RuvonError` as its one-sentence message
instead of a traceback wall; see :mod:`ruvon.excepthook`.
"""

from __future__ import annotations

from ruvon.errors import RuvonError

__version__ = "0.1.0"
__all__ = ["RuvonError", "__version__"]
