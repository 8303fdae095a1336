"""The state model as JSON data, on the per-step hot path.

``model.model_dump(mode="json")`` passes a dozen keyword arguments through Python before pydantic's
serializer runs; for the small states of most workflows that wrapper costs more than the
serialization. :func:`dump_json` calls the serializer directly, unless the model overrides
``model_dump`` (then that override runs, as before).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_BASE_DUMP = BaseModel.model_dump


def dump_json(state: BaseModel) -> dict[str, Any]:
    """``state.model_dump(mode="json")``, without the wrapper when the model does not override it."""
    kind = type(state)
    if kind.model_dump is _BASE_DUMP:
        data: dict[str, Any] = kind.__pydantic_serializer__.to_python(state, mode="json")
        return data
    return state.model_dump(mode="json")
