"""Connections: wires from one routine's event to another routine's slot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from routilux.serializable import RestoreContext, Serializable

if TYPE_CHECKING:
    from routilux.event import Event
    from routilux.slot import Slot


class Connection(Serializable):
    """A wire from an event to a slot; building one links both sides.

    In a flow, connections also record the routine ids of both ends, so a saved
    flow rewires by id (two routines with the same slot names stay distinct).

    Args:
        source_event: The emitting event.
        target_slot: The receiving slot.
        param_mapping: Renames event keys to slot keys (``{event_key: slot_key}``);
            keys that are not mentioned pass through unchanged.
    """

    def __init__(
        self,
        source_event: Event | None = None,
        target_slot: Slot | None = None,
        param_mapping: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.source_event = source_event
        self.target_slot = target_slot
        self.param_mapping: dict[str, str] = dict(param_mapping or {})
        self.source_id = ""
        self.target_id = ""
        self._data: dict[str, Any] = {}
        if source_event is not None and target_slot is not None:
            source_event.connect(target_slot, self.param_mapping)
        self.add_serializable_fields(["param_mapping"])

    def __repr__(self) -> str:
        return f"Connection({self.source_id}.{self.event} -> {self.target_id}.{self.slot})"

    @property
    def event(self) -> str:
        """The source event's name."""
        return self.source_event.name if self.source_event is not None else self._data.get("e", "")

    @property
    def slot(self) -> str:
        """The target slot's name."""
        return self.target_slot.name if self.target_slot is not None else self._data.get("s", "")

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

    def activate(self, data: dict[str, Any]) -> None:
        """Delivers ``data`` (mapped) to the target slot now, in this thread."""
        if self.target_slot is not None:
            self.target_slot.receive(self.map_params(data))

    def disconnect(self) -> None:
        """Unlinks the event and the slot."""
        if self.source_event is not None and self.target_slot is not None:
            self.source_event.disconnect(self.target_slot)

    def serialize(self) -> dict[str, Any]:
        """Returns both ends (routine id and name) and the mapping."""
        return {
            "_type": "Connection",
            "source_id": self.source_id,
            "event": self.event,
            "target_id": self.target_id,
            "slot": self.slot,
            "param_mapping": dict(self.param_mapping),
        }

    def to_dict(self) -> dict[str, Any]:
        """Same as :meth:`serialize`."""
        return self.serialize()

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores ids, names and mapping (the flow re-links the objects)."""
        self._restore(data, RestoreContext.of(registry))

    def _restore(self, data: Mapping[str, Any], ctx: RestoreContext) -> None:
        del ctx
        self.source_id = str(data.get("source_id", ""))
        self.target_id = str(data.get("target_id", ""))
        self._data = {"e": str(data.get("event", "")), "s": str(data.get("slot", ""))}
        mapping = data.get("param_mapping") or {}
        self.param_mapping = {str(k): str(v) for k, v in dict(mapping).items()}
