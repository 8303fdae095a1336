"""``ruvon db init | migrate [--dry-run] | status | stats``: the store's schema and size.

``init`` and ``migrate`` open the store as every command that writes does (its ``initialize()``
creates the tables and applies pending migrations in one transaction); ``status``, ``stats`` and
``migrate --dry-run`` only read (:mod:`ruvon.cli.dbread`).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ruvon.cli.dbread import NoDatabase, read_only, table_counts, workflow_rows
from ruvon.cli.exits import EXIT_FAILED, EXIT_OK, out
from ruvon.cli.jsonout import emit
from ruvon.cli.render import print_fields
from ruvon.cli.store import describe_store, opened_store
from ruvon.implementations.persistence.schema import (
    SCHEMA_VERSION,
    Migration,
    pending_migrations,
)


def current_version(db: str) -> int | None:
    """The store's schema version; ``None`` when the SQLite file does not exist yet."""
    try:
        with read_only(db) as store:
            return store.schema_version()
    except NoDatabase:
        return None


def _pending(db: str, version: int | None) -> list[Migration]:
    return pending_migrations(version or 0, f"The store {describe_store(db)}")


async def init(db: str) -> int:
    """Create the tables of a new store, or migrate an existing one."""
    before = current_version(db)
    async with opened_store(db):
        pass
    done = _pending(db, before)
    what = "created" if before in (None, 0) else "migrated" if done else "already up to date"
    out.print(Text(f"{describe_store(db)}: {what}, schema version {SCHEMA_VERSION}"))
    return EXIT_OK


async def migrate(db: str, dry_run: bool) -> int:
    """Apply (or with ``dry_run`` list) the migrations the store is missing."""
    before = current_version(db)
    pending = _pending(db, before)
    if not pending:
        out.print(Text(f"{describe_store(db)}: up to date at schema version {before}"))
        return EXIT_OK
    verb = "would apply" if dry_run else "applying"
    for migration in pending:
        out.print(Text(f"{verb} migration {migration.version}: {migration.description}"))
    if not dry_run:
        async with opened_store(db):
            pass
        out.print(Text(f"{describe_store(db)}: now at schema version {SCHEMA_VERSION}"))
    return EXIT_OK


def status(db: str, json_out: bool) -> int:
    """Print the schema version and pending migrations; exit 1 if the store is missing or behind."""
    version = current_version(db)
    pending = _pending(db, version)
    document: dict[str, Any] = {
        "database": describe_store(db),
        "exists": version is not None,
        "schema_version": version,
        "latest_version": SCHEMA_VERSION,
        "pending": [{"version": m.version, "description": m.description} for m in pending],
        "up_to_date": version is not None and not pending,
    }
    if json_out:
        emit(document)
    else:
        print_fields(
            out,
            [
                ("database", document["database"]),
                ("schema", "missing" if version is None else f"version {version}"),
                ("latest", f"version {SCHEMA_VERSION}"),
            ],
        )
        for m in pending:
            out.print(Text(f"pending migration {m.version}: {m.description}"))
        hint = "ruvon db init" if version is None else "ruvon db migrate"
        out.print(Text("up to date" if document["up_to_date"] else f"run: {hint}"))
    return EXIT_OK if document["up_to_date"] else EXIT_FAILED


def stats(db: str, json_out: bool) -> int:
    """Print the store's size, schema version, rows per table and workflows per status."""
    with read_only(db) as store:
        by_status: dict[str, int] = {}
        if store.has_table("workflows"):
            for _, state, count, _, _ in workflow_rows(store, None):
                by_status[state] = by_status.get(state, 0) + int(count)
        document: dict[str, Any] = {
            "database": describe_store(db),
            "size_bytes": store.size_bytes(),
            "schema_version": store.schema_version(),
            "tables": table_counts(store),
            "workflows_by_status": dict(sorted(by_status.items())),
        }
    if json_out:
        emit(document)
        return EXIT_OK
    rows: list[tuple[str, str | Text]] = [
        ("database", document["database"]),
        ("size", _size(document["size_bytes"])),
        ("schema", f"version {document['schema_version']}"),
    ]
    rows += [(f"{t} rows", "-" if n is None else str(n)) for t, n in document["tables"].items()]
    rows += [(f"  {s}", str(n)) for s, n in document["workflows_by_status"].items()]
    print_fields(out, rows)
    return EXIT_OK


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
