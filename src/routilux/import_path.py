"""Import paths (``"package.module:QualName"``) for classes and functions.

Serialization stores classes, handlers and merge functions by import path so that
another process can rebuild them.
"""

from __future__ import annotations

import importlib
from typing import Any

from routilux.errors import SerializationError


def import_path_of(obj: Any) -> str:
    """Returns the import path of a module-level class or function.

    Args:
        obj: A class or function defined at module level.

    Returns:
        A string of the form ``"package.module:QualName"``.

    Raises:
        SerializationError: If ``obj`` is a lambda or is defined inside a function,
            so no other process could import it.
    """
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise SerializationError(
            f"{obj!r} cannot be serialized because it has no importable name; "
            "define it at module level (not as a lambda or inside a function)."
        )
    return f"{module}:{qualname}"


def import_object(path: str) -> Any:
    """Imports the object an import path names.

    Args:
        path: A string of the form ``"package.module:QualName"``.

    Returns:
        The imported object.

    Raises:
        SerializationError: If the module or attribute cannot be imported.
    """
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise SerializationError(
            f"{path!r} is not an import path; expected the form 'package.module:QualName'."
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SerializationError(
            f"Cannot import module {module_name!r} for {path!r} ({exc}); make sure the module "
            "is installed or on sys.path in this process."
        ) from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise SerializationError(
                f"Module {module_name!r} has no attribute {qualname!r}, so {path!r} cannot be "
                "imported; check that the class or function still exists under that name."
            ) from exc
    return obj
