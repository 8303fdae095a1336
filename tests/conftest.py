"""Fixtures shared by every test folder.

``postgres_url``: a PostgreSQL URL whose ``search_path`` is a new, empty schema, dropped after the
test. Without a reachable server the test is skipped, except with ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_BASE_URL = os.environ.get(
    "RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped after the test."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_BASE_URL, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_t_{uuid.uuid4().hex[:12]}"
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:
        message = (
            f"PostgreSQL is not reachable at '{POSTGRES_BASE_URL}' ({exc}); set "
            f"RUVON_TEST_POSTGRES_URL."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{POSTGRES_BASE_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_BASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
