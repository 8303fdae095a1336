"""Import step functions and state models by dotted path, with errors that say what to fix."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import traceback
from collections.abc import Callable, Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ruvon.dict_state import DICT_STATE_PATHS, DictState
from ruvon.errors import DefinitionError, FunctionLoadError, StateModelError

_PYDANTIC_MARK = "pydantic"


@lru_cache(maxsize=1024)
def import_object(dotted_path: str) -> Any:
    """Import ``package.module.name`` and return ``name``.

    Raises:
        ImportError: The module cannot be imported or has no such attribute (message says which).
        DefinitionError: Importing the module failed because a pydantic model in it is invalid
            (the builtin ``any`` used as a type is named with its file and line).
    """
    module_path, _, attr = dotted_path.rpartition(".")
    if not module_path or not attr:
        raise ImportError(f"'{dotted_path}' is not a dotted path of the form 'package.module.name'")
    try:
        module = importlib.import_module(module_path)
    except ImportError:
        raise
    except Exception as exc:  # the module itself raised while importing
        raise _describe_import_failure(module_path, exc) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(
            f"module '{module_path}' ({getattr(module, '__file__', '?')}) has no attribute '{attr}'"
        ) from None


def load_model(
    dotted_path: str, *, source: str, key: str = "initial_state_model"
) -> type[BaseModel]:
    """Import a pydantic model named by a definition (the state model or a step's input model).

    Args:
        dotted_path: ``package.module.ClassName``.
        source: Where the path was written (a file name, a step), for messages.
        key: The YAML key that holds the path, for messages.
    """
    if dotted_path in DICT_STATE_PATHS:
        return DictState
    try:
        model = import_object(dotted_path)
    except DefinitionError:
        raise
    except ImportError as exc:
        raise StateModelError(
            f"{source}: the model '{dotted_path}' named by '{key}' cannot be imported: {exc}. "
            f"Check the path and that its package is importable (on sys.path)."
        ) from None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise StateModelError(
            f"{source}: '{key}' names '{dotted_path}', which is {model!r}, not a pydantic BaseModel "
            f"subclass. Point it at a class that derives from pydantic.BaseModel."
        )
    return model


def load_function(
    dotted_path: str, *, where: str, provided: Collection[str] = ()
) -> Callable[..., Any]:
    """Import a step or task function and check it can be called as ``f(state, context)``.

    Args:
        dotted_path: ``package.module.function``.
        where: What names the function, e.g. ``"workflow.yaml, step 'Check'"``, for messages.
        provided: Keyword arguments the engine passes there (``"*"``: any), which may be required.
    """
    try:
        func = import_object(dotted_path)
    except DefinitionError as exc:
        raise FunctionLoadError(
            f"{where}: the function '{dotted_path}' cannot be loaded: {exc}"
        ) from None
    except ImportError as exc:
        raise FunctionLoadError(
            f"{where}: the function '{dotted_path}' cannot be imported: {exc}. Check the dotted "
            f"path and that its package is importable (on sys.path)."
        ) from None
    if not callable(func):
        raise FunctionLoadError(f"{where}: '{dotted_path}' is {func!r}, which is not callable.")
    check_step_signature(func, dotted_path, where=where, provided=provided)
    return func  # type: ignore[no-any-return]


def check_step_signature(
    func: Callable[..., Any], dotted_path: str, *, where: str, provided: Collection[str] = ()
) -> None:
    """Refuse a function that cannot be called as ``f(state, context, **provided)``."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return  # builtins and C functions: nothing to check
    signature = signature.replace(return_annotation=inspect.Signature.empty)
    try:
        if "*" in provided:
            signature.bind_partial(None, None)
        else:
            accepted = accepted_kwargs(func, dict.fromkeys(provided))
            signature.bind(None, None, **accepted)
    except TypeError:
        raise FunctionLoadError(
            f"{where}: the function '{dotted_path}{signature}' cannot be called as "
            f"f(state, context). Step and task functions take the state and a StepContext: "
            f"def {getattr(func, '__name__', 'step')}(state, context, **kwargs) -> dict."
        ) from None


def _describe_import_failure(module_path: str, exc: Exception) -> Exception:
    """Turn an exception raised while importing a module into an ImportError or DefinitionError."""
    if type(exc).__module__.startswith(_PYDANTIC_MARK):
        builtin_any = _find_builtin_any(exc)
        if builtin_any is not None:
            return DefinitionError(builtin_any)
        frame = _last_user_frame(exc)
        where = f"{frame[0]}, line {frame[1]}" if frame else f"module '{module_path}'"
        return DefinitionError(f"{where}: pydantic rejected a model: {str(exc).splitlines()[0]}")
    frame = _last_user_frame(exc)
    where = f" ({frame[0]}, line {frame[1]})" if frame else ""
    return ImportError(f"importing '{module_path}' raised {type(exc).__name__}: {exc}{where}")


def _last_user_frame(exc: BaseException) -> tuple[str, int] | None:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if _PYDANTIC_MARK not in Path(f.filename).parts
        and not f.filename.startswith("<frozen")
        and "/ruvon/" not in f.filename
    ]
    if not frames:
        return None
    return frames[-1].filename, frames[-1].lineno or 0


def _find_builtin_any(exc: BaseException) -> str | None:
    """If a model annotation uses the builtin ``any``, say where and how to fix it."""
    if "built-in function any" not in str(exc):
        return None
    frame = _last_user_frame(exc)
    if frame is None:
        return None
    filename = frame[0]
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8"), filename)
    except (OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and _uses_builtin_any(item.annotation)
            ):
                annotation = ast.unparse(item.annotation)
                fixed = re.sub(r"\bany\b", "Any", annotation)
                return (
                    f"{_display(filename)}, line {item.lineno}: field '{item.target.id}' of "
                    f"{node.name} is annotated '{annotation}', which uses the builtin function "
                    f"'any' as a type; pydantic cannot build a model from it. Use typing.Any: "
                    f"add 'from typing import Any' and write '{fixed}'."
                )
    return None


def _uses_builtin_any(annotation: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "any" for n in ast.walk(annotation))


def _display(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def accepted_kwargs(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``kwargs`` that ``func`` accepts (all of it if it takes ``**kwargs``)."""
    if not kwargs:
        return {}
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(kwargs)
    names = {p.name for p in parameters}
    return {key: value for key, value in kwargs.items() if key in names}
