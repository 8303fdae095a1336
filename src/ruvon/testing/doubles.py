"""Test doubles the harness puts in a definition: mocked step functions and mocked HTTP replies.

A mocked step keeps its place, type and keys in the definition; only its ``function`` (or a task's
``function_path``, or ``compensate_function``) is pointed at a double registered here as a module
attribute, so the engine imports and runs it like any other function.
"""

from __future__ import annotations

import inspect
import itertools
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ruvon.errors import RuvonError

#: Header that tells the harness's HTTP transport which step sent a request (removed before use).
STEP_HEADER = "X-Ruvon-Harness-Step"

_counter = itertools.count(1)
_lock = threading.Lock()


class HarnessError(RuvonError):
    """A test harness was used wrongly (unknown step, unmocked HTTP call, a run that never ends)."""


@dataclass(slots=True)
class Call:
    """One call of a mocked function: the step (or task) name, the keyword arguments it got."""

    name: str
    kwargs: dict[str, Any]
    validated_input: Any = None


@dataclass(slots=True)
class StepMock:
    """What a mocked step does: return ``returns``, raise ``raises``, or call ``function``."""

    name: str
    returns: Any = None
    raises: BaseException | None = None
    function: Callable[..., Any] | None = None
    calls: list[Call] = field(default_factory=list)

    @property
    def is_async(self) -> bool:
        """Whether the double must be a coroutine function (the replacement is one)."""
        return self.function is not None and inspect.iscoroutinefunction(self.function)


def register_double(mock: StepMock, log: list[Call]) -> str:
    """Make a function for ``mock``, register it on this module; return its dotted path."""
    with _lock:
        attr = f"double_{next(_counter)}"

    def record(context: Any, kwargs: dict[str, Any]) -> None:
        call = Call(mock.name, dict(kwargs), getattr(context, "validated_input", None))
        mock.calls.append(call)
        log.append(call)

    def outcome(state: Any, context: Any, kwargs: dict[str, Any]) -> Any:
        if mock.raises is not None:
            raise mock.raises
        if mock.function is not None:
            return mock.function(state, context, **kwargs)
        return dict(mock.returns) if isinstance(mock.returns, Mapping) else mock.returns

    if mock.is_async:

        async def async_double(state: Any, context: Any, **kwargs: Any) -> Any:
            record(context, kwargs)
            return await outcome(state, context, kwargs)

        double: Callable[..., Any] = async_double
    else:

        def sync_double(state: Any, context: Any, **kwargs: Any) -> Any:
            record(context, kwargs)
            return outcome(state, context, kwargs)

        double = sync_double
    double.__name__ = double.__qualname__ = attr
    setattr(sys.modules[__name__], attr, double)
    return f"{__name__}.{attr}"


@dataclass(slots=True)
class HttpReply:
    """A canned HTTP response for one step: status, JSON body (or text) and headers."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class HttpCall:
    """A request an HTTP step sent to the harness: step, method, URL, headers and body."""

    step_name: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any


def http_client_class(
    replies: Mapping[str, HttpReply], calls: list[HttpCall], allow_network: bool
) -> Any:
    """An ``httpx.AsyncClient`` subclass whose requests the harness answers."""
    import httpx

    class HarnessTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            step = request.headers.get(STEP_HEADER)
            if step is None or step not in replies:
                if allow_network:
                    if STEP_HEADER in request.headers:
                        del request.headers[STEP_HEADER]
                    async with httpx.AsyncHTTPTransport() as real:
                        response = await real.handle_async_request(request)
                        await response.aread()
                    return response
                raise HarnessError(
                    f"Step '{step or '?'}' sent {request.method} {request.url}, and the test harness "
                    f"has no reply for it. Call harness.mock_http('{step}', json=...) first, or "
                    f"create the harness with allow_network=True to really send it."
                )
            del request.headers[STEP_HEADER]
            content = await request.aread()
            calls.append(
                HttpCall(
                    step, request.method, str(request.url), dict(request.headers), _body(content)
                )
            )
            reply = replies[step]
            if reply.text is not None:
                return httpx.Response(reply.status, text=reply.text, headers=reply.headers)
            return httpx.Response(reply.status, json=reply.json, headers=reply.headers)

    transport = HarnessTransport()

    class HarnessClient(httpx.AsyncClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["transport"] = transport
            super().__init__(*args, **kwargs)

    return HarnessClient


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")
