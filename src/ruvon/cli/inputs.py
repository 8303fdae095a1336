"""Parse JSON given on the command line, inline or as ``@file``, with errors that say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class InputError(Exception):
    """A command-line value could not be used; the message is a sentence for the user."""


def parse_json_object(value: str | None, option: str) -> dict[str, Any]:
    """The JSON object in ``value`` (inline text or ``@path``); ``{}`` when ``value`` is ``None``.

    Args:
        value: Inline JSON, or ``@`` followed by the path of a JSON file.
        option: The option's name, e.g. ``"--data"``, for messages.

    Raises:
        InputError: The file cannot be read, the text is not JSON (the message gives line and
            column), or it is not a JSON object.
    """
    if value is None:
        return {}
    if value.startswith("@"):
        path = Path(value[1:])
        where = f"the file {path} (given as {option} {value})"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{option}: cannot read {path}: {exc.strerror or exc}.") from None
    else:
        where = f"the {option} value"
        text = value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f'{where} must be a JSON object of state fields, like \'{{"order_id": "A1"}}\', '
            f"not a JSON {_json_kind(data)}."
        )
    return data


def _json_kind(data: Any) -> str:
    kinds: dict[type, str] = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(data), "number")


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """Definition parameters from ``-p KEY=VALUE`` options.

    A VALUE that parses as JSON (``10``, ``true``, ``[1, 2]``, ``"10"``) takes that value; anything
    else is text, so ``-p region=eu`` needs no quotes.

    Raises:
        InputError: An option has no ``=`` or an empty key.
    """
    params: dict[str, Any] = {}
    for item in values or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"-p {item}: a parameter is given as KEY=VALUE, e.g. -p region=eu or -p retries=3."
            )
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params
