"""DictState: the state model of a definition whose ``initial_state_model`` is ``builtins.dict``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Dotted paths that ask for a free-form (dict) state, as the published SDK's tutorial writes it.
DICT_STATE_PATHS = frozenset({"builtins.dict", "dict"})


class DictState(BaseModel):
    """A state that takes any field, read as a dict (``state.get(k)``, ``state[k]``) or ``state.k``.

    Like every state it is a pydantic model: step results merge into it, it is saved as JSON, and
    expressions and templates see its fields (``state.name``).
    """

    model_config = ConfigDict(extra="allow")

    def _fields(self) -> dict[str, Any]:
        return self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when the state has no such field."""
        return self._fields().get(key, default)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._fields()[key]
        except KeyError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return key in self._fields()

    def keys(self) -> list[str]:
        """The field names."""
        return list(self._fields())

    def items(self) -> list[tuple[str, Any]]:
        """``(name, value)`` pairs."""
        return list(self._fields().items())

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # Iterating a dict state gives its keys, as iterating a dict does.
        return iter(self.keys())
