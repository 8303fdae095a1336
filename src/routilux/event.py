"""Events: the named outputs of a routine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routilux.serializable import RestoreContext, Serializable

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.routine import Routine
    from routilux.slot import Slot


class Event(Serializable):
    """A named output of a routine.

    ``output_params`` documents the keys the event carries; it is not enforced, so
    emitting extra keys is allowed.

    Args:
        name: The event's name, unique within its routine.
        routine: The routine that owns the event.
        output_params: The names of the keys the event carries.
    """

    def __init__(
        self, name: str = "", routine: Routine | None = None, output_params: list[str] | None = None
    ) -> None:
        super().__init__()
        self.name = name
        self.routine = routine
        self.output_params = list(output_params or [])
        self.connected_slots: list[Slot] = []
        self._mappings: dict[int, dict[str, str]] = {}
        self.add_serializable_fields(["name", "output_params"])

    def __repr__(self) -> str:
        return f"Event({self.name!r}, output_params={self.output_params!r})"

    def connect(self, slot: Slot, param_mapping: dict[str, str] | None = None) -> None:
        """Links this event to ``slot`` (both sides), outside any flow."""
        if slot not in self.connected_slots:
            self.connected_slots.append(slot)
        self._mappings[id(slot)] = dict(param_mapping or {})
        if self not in slot.connected_events:
            slot.connected_events.append(self)

    def disconnect(self, slot: Slot) -> None:
        """Removes the link to ``slot`` (both sides)."""
        if slot in self.connected_slots:
            self.connected_slots.remove(slot)
        self._mappings.pop(id(slot), None)
        if self in slot.connected_events:
            slot.connected_events.remove(self)

    def emit(self, flow: Flow | None = None, **kwargs: Any) -> None:
        """Emits the event through its routine (see :meth:`Routine.emit`)."""
        if self.routine is None:
            raise ValueError(f"Event {self.name!r} belongs to no routine, so it cannot be emitted.")
        self.routine.emit(self.name, flow=flow, **kwargs)

    def mapping_for(self, slot: Slot) -> dict[str, str]:
        """The ``param_mapping`` of the link to ``slot``."""
        return self._mappings.get(id(slot), {})

    def serialize(self) -> dict[str, Any]:
        """Returns ``{"_type": "Event", "name", "output_params"}``."""
        return {"_type": "Event", "name": self.name, "output_params": list(self.output_params)}

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores name and output params (links are restored by the flow)."""
        self._restore(data, RestoreContext.of(registry))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        del ctx
        self.name = str(data.get("name", self.name))
        self.output_params = [str(p) for p in data.get("output_params") or []]
