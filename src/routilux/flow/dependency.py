"""0.10's dependency-graph helpers: which routines feed which."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routilux.connection import Connection
    from routilux.routine import Routine


def build_dependency_graph(
    routines: dict[str, Routine], connections: Iterable[Connection]
) -> dict[str, set[str]]:
    """Maps each routine id to the ids of the routines connected into it."""
    graph: dict[str, set[str]] = {rid: set() for rid in routines}
    for connection in connections:
        if connection.target_id in graph:
            graph[connection.target_id].add(connection.source_id)
    return graph


def get_ready_routines(
    completed: set[str], dependency_graph: dict[str, set[str]], running: set[str]
) -> list[str]:
    """Routines not done or running whose every source has completed."""
    return [
        rid
        for rid, sources in dependency_graph.items()
        if rid not in completed and rid not in running and sources <= completed
    ]
