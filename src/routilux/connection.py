"""Connections: wires from one routine's event to another routine's slot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Connection:
    """A wire from ``source_id``'s event to ``target_id``'s slot.

    Routines are named by their id in the flow, so two routines with the same slot
    names stay distinct.

    Attributes:
        source_id: The id of the emitting routine.
        event: The name of the event.
        target_id: The id of the receiving routine.
        slot: The name of the receiving slot.
        param_mapping: Renames event keys to slot keys (``{event_key: slot_key}``);
            keys that are not mentioned pass through unchanged.
    """

    source_id: str
    event: str
    target_id: str
    slot: str
    param_mapping: dict[str, str] = field(default_factory=dict)

    def map_params(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Applies :attr:`param_mapping` to an emitted message.

        Args:
            data: The keyword arguments given to ``emit``.

        Returns:
            The message the target slot receives.
        """
        if not self.param_mapping:
            return dict(data)
        return {self.param_mapping.get(key, key): value for key, value in data.items()}

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-compatible description of this connection."""
        return {
            "source_id": self.source_id,
            "event": self.event,
            "target_id": self.target_id,
            "slot": self.slot,
            "param_mapping": dict(self.param_mapping),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Connection:
        """Rebuilds a connection from :meth:`to_dict` output."""
        return cls(
            source_id=data["source_id"],
            event=data["event"],
            target_id=data["target_id"],
            slot=data["slot"],
            param_mapping=dict(data.get("param_mapping") or {}),
        )
