"""The HTTP side of ``ruvon serve --http``: JSON API, OpenAPI page and live dashboard.

Needs the ``server`` extra (``pip install 'ruvon[server]'``: FastAPI and uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> FastAPI:
    """Build the application; see :func:`ruvon.server.app.create_app`."""
    from ruvon.server.app import create_app as make

    return make(*args, **kwargs)
