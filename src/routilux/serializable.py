"""Serialization on top of serilux, with a restore path that cannot run code.

routilux 0.10 user code imports ``Serializable`` and ``register_serializable`` from
``serilux`` and calls ``add_serializable_fields``; every routilux object is a
``serilux.Serializable``. serilux's own *restore* of callables imports any module a
saved dict names and ``eval``s lambda source, so routilux never calls it: every
``deserialize`` here is routilux's own, and classes and callables are resolved
through :class:`RestoreContext`:

* classes: Routine subclasses defined in this process (recorded when the class
  statement runs, never imported because data names them), classes registered with
  ``serilux.register_serializable``, and classes of modules in ``allow_modules``;
* callables: methods of the routine that owns the slot (or of another routine of
  the flow being restored), and module-level functions only from ``allow_modules``;
* anything else raises :class:`~routilux.errors.UnsafeRestoreError` naming it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routilux.errors import SerializationError, UnsafeRestoreError

if TYPE_CHECKING:

    class Serializable:
        """Typed view of ``serilux.Serializable`` (serilux ships no type hints)."""

        fields_to_serialize: list[str]

        def __init__(self) -> None: ...
        def add_serializable_fields(self, fields: list[str]) -> None: ...
        def remove_serializable_fields(self, fields: list[str]) -> None: ...

    def register_serializable(cls: type[Any]) -> type[Any]: ...

    class SerializableRegistry:
        registry: dict[str, type[Any]]
else:
    from serilux import Serializable, SerializableRegistry, register_serializable

__all__ = [
    "MAX_DEPTH",
    "RestoreContext",
    "Serializable",
    "SerializableRegistry",
    "callable_ref",
    "class_path",
    "dump_value",
    "load_value",
    "register_serializable",
]

#: Deepest nesting accepted in saved data (deeper structures are refused, not recursed).
MAX_DEPTH = 100

#: Routine classes defined in this process, by ``"module:QualName"``.
_ROUTINE_CLASSES: dict[str, type[Any]] = {}


def record_routine_class(cls: type[Any]) -> None:
    """Records a Routine subclass so saved flows can name it (called by ``Routine``)."""
    _ROUTINE_CLASSES[class_path(cls)] = cls


def class_path(cls: type[Any]) -> str:
    """Returns ``"module:QualName"`` of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _module_allowed(module: str, allowed: Iterable[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in allowed)


@dataclass
class RestoreContext:
    """What a restore may resolve.

    Attributes:
        allow_modules: Modules (and their submodules) whose functions and classes
            saved data may name; empty by default, so no module is ever imported.
        routines: Routines of the flow being restored, by id (method owners).
        owner: The routine whose own data is being restored.
    """

    allow_modules: tuple[str, ...] = ()
    routines: dict[str, Any] = field(default_factory=dict)
    owner: Any = None

    @classmethod
    def of(cls, registry: Any, owner: Any = None) -> RestoreContext:
        """Returns ``registry`` if it is a context, else a default context for ``owner``."""
        if isinstance(registry, RestoreContext):
            return registry if owner is None else registry.for_owner(owner)
        return cls(owner=owner)

    def for_owner(self, owner: Any) -> RestoreContext:
        """A copy of this context restoring ``owner``'s data."""
        return RestoreContext(self.allow_modules, self.routines, owner)

    def resolve_class(self, name: str, what: str) -> type[Any]:
        """Finds a class that saved data names, without importing unless allowed.

        Args:
            name: ``"module:QualName"`` or a name registered with serilux.
            what: Where the name was found, for the error message.

        Raises:
            UnsafeRestoreError: If the class is neither defined-and-recorded,
                registered, nor in an allowed module.
        """
        if not isinstance(name, str):
            raise UnsafeRestoreError(f"{what} names a class with {name!r}, which is not a string.")
        found = _ROUTINE_CLASSES.get(name) or SerializableRegistry.registry.get(name)
        if found is None and ":" in name:
            module, _, qualname = name.partition(":")
            if _module_allowed(module, self.allow_modules):
                found = _import_attr(module, qualname, what)
        if not isinstance(found, type):
            raise UnsafeRestoreError(
                f"{what} names class {name!r}, which is not a registered routine or serializable "
                "class in this process; import the module that defines it before restoring "
                "(routilux never imports modules named by saved data) or pass "
                "allow_modules=[its module]."
            )
        return found

    def resolve_callable(self, ref: Any, what: str) -> Callable[..., Any]:
        """Resolves a callable reference written by :func:`callable_ref`.

        Raises:
            UnsafeRestoreError: If the reference is not a method of a routine being
                restored nor a function of an allowed module.
        """
        if not isinstance(ref, Mapping):
            raise UnsafeRestoreError(f"{what} is {ref!r}, which is not a callable reference.")
        kind = ref.get("callable_type") if ref.get("_type") == "callable" else ref.get("_type")
        if kind == "method":
            return self._resolve_method(ref, what)
        if kind == "function":
            module, name = str(ref.get("module")), str(ref.get("name"))
            if not _module_allowed(module, self.allow_modules):
                raise UnsafeRestoreError(
                    f"{what} names function {module}:{name}, and module {module!r} is not in "
                    "allow_modules; routilux restores only methods of registered routines, "
                    f"so pass allow_modules=[{module!r}] if you trust that module."
                )
            found = _import_attr(module, name, what)
            if callable(found):
                return found  # type: ignore[no-any-return]
        label = ref.get("expression") or ref.get("name") or ref
        raise UnsafeRestoreError(
            f"{what} names callable {label!r} of kind {kind!r}, which routilux refuses to "
            "restore from data; use a method of the routine or a function of an allowed module."
        )

    def _resolve_method(self, ref: Mapping[str, Any], what: str) -> Callable[..., Any]:
        name = str(ref.get("method_name"))
        object_id = ref.get("object_id")
        owner = self.routines.get(object_id) if isinstance(object_id, str) else None
        if owner is None:
            owner = self.owner
        class_name = ref.get("class_name")
        names = {c.__name__ for c in type(owner).__mro__} if owner is not None else set()
        if owner is None or (class_name is not None and class_name not in names):
            raise UnsafeRestoreError(
                f"{what} names method {class_name}.{name} of object {object_id!r}, which is not "
                "a routine being restored; only methods of the flow's routines can be handlers."
            )
        static = _static_lookup(type(owner), name)
        if name.startswith("__") or not inspect.isfunction(static):
            raise UnsafeRestoreError(
                f"{what} names {type(owner).__name__}.{name}, which is not a method defined by "
                "that routine class; only plain methods can be restored."
            )
        return getattr(owner, name)  # type: ignore[no-any-return]


def _static_lookup(cls: type[Any], name: str) -> Any:
    try:
        return inspect.getattr_static(cls, name)
    except AttributeError:
        return None


def _import_attr(module: str, qualname: str, what: str) -> Any:
    try:
        obj: Any = sys.modules.get(module) or importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise SerializationError(
            f"{what} names {module}:{qualname}, which cannot be found ({exc}); check that it "
            "still exists under that name."
        ) from exc
    return obj


def callable_ref(func: Callable[..., Any], owner: Any = None) -> dict[str, Any]:
    """Describes a callable for saving, in serilux's callable format.

    Args:
        func: A bound method of a routine, or a module-level function.
        owner: The routine the callable belongs to, if any.

    Raises:
        SerializationError: If ``func`` is a lambda, a closure or another object
            with no name another process could resolve.
    """
    target = getattr(func, "__self__", None)
    if inspect.ismethod(func) and target is not None:
        return {
            "_type": "callable",
            "callable_type": "method",
            "class_name": type(target).__name__,
            "method_name": func.__name__,
            "object_id": getattr(target, "_id", None) if target is not owner else None,
        }
    qualname = getattr(func, "__qualname__", "")
    module = getattr(func, "__module__", None)
    if inspect.isfunction(func) and module and "<" not in qualname:
        return {
            "_type": "callable",
            "callable_type": "function",
            "module": module,
            "name": qualname,
        }
    raise SerializationError(
        f"{func!r} cannot be saved because it has no importable name; use a method of the "
        "routine or a module-level function (not a lambda or a function defined inside one)."
    )


def dump_value(value: Any, what: str, depth: int = 0) -> Any:
    """Turns a field value into JSON-compatible data.

    Serializable objects use their own ``serialize()``, callables become references,
    tuples become lists.

    Raises:
        SerializationError: If the value (or something inside it) cannot be saved.
    """
    if depth > MAX_DEPTH:
        raise SerializationError(f"{what} is nested deeper than {MAX_DEPTH} levels.")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Serializable):
        return value.serialize()  # type: ignore[attr-defined]
    if isinstance(value, list | tuple):
        return [dump_value(item, what, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(k): dump_value(v, f"{what}[{k!r}]", depth + 1) for k, v in value.items()}
    if callable(value) and not isinstance(value, type):
        return callable_ref(value)
    raise SerializationError(
        f"{what} holds a {type(value).__name__}, which cannot be saved; keep serialized fields "
        "to JSON types, Serializable objects and named callables."
    )


def load_value(value: Any, ctx: RestoreContext, what: str, depth: int = 0) -> Any:
    """Restores a value :func:`dump_value` produced, resolving only what ``ctx`` allows.

    Raises:
        SerializationError: If the data is nested too deeply.
        UnsafeRestoreError: If it names a class or callable ``ctx`` refuses.
    """
    if depth > MAX_DEPTH:
        raise SerializationError(f"{what} is nested deeper than {MAX_DEPTH} levels; refused.")
    if isinstance(value, list):
        return [load_value(item, ctx, what, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("_type")
    if kind in ("callable", "lambda_expression", "function", "method", "builtin"):
        return ctx.resolve_callable(value, what)
    if isinstance(kind, str):
        return restore_object(value, ctx, what, depth)
    return {k: load_value(v, ctx, f"{what}[{k!r}]", depth + 1) for k, v in value.items()}


def restore_object(data: Mapping[str, Any], ctx: RestoreContext, what: str, depth: int = 0) -> Any:
    """Builds a registered Serializable from saved data with routilux's own restore."""
    cls = ctx.resolve_class(data.get("class") or data["_type"], what)
    try:
        obj = cls()
    except TypeError as exc:
        raise SerializationError(
            f"{cls.__name__}() failed while restoring {what} ({exc}); serializable classes "
            "must be constructible without arguments."
        ) from exc
    restore = getattr(obj, "_restore", None)
    if callable(restore):
        restore(data, ctx)
        return obj
    for name in getattr(obj, "fields_to_serialize", []):
        if name in data:
            setattr(obj, name, load_value(data[name], ctx, f"{what}.{name}", depth + 1))
    return obj


def dump_fields(obj: Any, skip: Iterable[str], what: str) -> dict[str, Any]:
    """Dumps the user-added ``fields_to_serialize`` of ``obj`` (not those in ``skip``)."""
    skipped = set(skip)
    return {
        name: dump_value(getattr(obj, name, None), f"{what}.{name}")
        for name in getattr(obj, "fields_to_serialize", [])
        if name not in skipped
    }


def load_fields(
    obj: Any, data: Mapping[str, Any], skip: Iterable[str], ctx: RestoreContext
) -> None:
    """Restores the user-added ``fields_to_serialize`` of ``obj`` from ``data``."""
    skipped = set(skip)
    what = type(obj).__name__
    for name in getattr(obj, "fields_to_serialize", []):
        if name not in skipped and name in data:
            setattr(obj, name, load_value(data[name], ctx, f"{what}.{name}"))
