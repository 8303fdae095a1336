"""Events: the named outputs of a routine."""

from __future__ import annotations


class Event:
    """A named output of a routine.

    ``output_params`` documents the keys the event carries; it is not enforced, so
    emitting extra keys is allowed.

    Args:
        name: The event's name, unique within its routine.
        output_params: The names of the keys the event carries.
    """

    def __init__(self, name: str, output_params: list[str] | None = None) -> None:
        self.name = name
        self.output_params = list(output_params or [])

    def __repr__(self) -> str:
        return f"Event({self.name!r}, output_params={self.output_params!r})"
