"""HTTP steps: call an endpoint whose URL, headers, query and body are templates over the state.

The runner sends one request per attempt and never retries by itself: it raises StepFailed with
``retryable`` set for failures that may pass (connection errors, timeouts, 5xx, 429), and the
workflow's retry loop re-runs the step under the step's (or the default) retry policy.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ruvon.errors import ConfigurationError, StepFailed, TemplateError
from ruvon.providers.template_engine import TemplateEngine
from ruvon.results import apply_result
from ruvon.step_models import HttpStep, RetryPolicy
from ruvon.steps.base import StepKind, StepOutcome, StepRun
from ruvon.template_names import TemplateNames, template_values

if TYPE_CHECKING:
    import httpx

_log = logging.getLogger("ruvon.workflow")

#: Statuses outside 5xx that a later attempt may turn into a success.
_TRANSIENT_STATUSES = frozenset({408, 429})
_BODY_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """The step's request after templating: what is sent."""

    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any


async def run_http(run: StepRun) -> StepOutcome:
    """Run an HTTP step: render the request from the state, send it, check the status.

    The result is ``{"status_code", "headers", "body"}`` (``body`` parsed when the response is
    JSON, else text). With ``output_key``, :func:`stored_response` of it is validated into that
    state field.

    Raises:
        ConfigurationError: httpx is not installed.
        StepFailed: A template failed, the request failed, or the status is not accepted;
            ``retryable`` is True only for connection errors, timeouts, 5xx, 408 and 429.
    """
    step = run.step
    if not isinstance(step, HttpStep):
        raise StepFailed(
            f"{run.where} is a {step.type} step, not HTTP; it cannot run as an HTTP request.",
            step_name=step.name,
            retryable=False,
        )
    lib = _import_httpx()
    _check_output_key(run, step)
    engine = run.workflow.template_engine_cls(
        {**run.kwargs, "state": run.state, **_allowed_names(run, step)}
    )
    request = render_request(step, engine, run.where, step.name)
    response = await _send(lib, run, step, request)
    result = {
        "status_code": response.status_code,
        "headers": dict(response.headers),
        "body": _parse_body(response),
    }
    _check_status(run, step, request, response)
    if step.output_key is not None:
        try:
            apply_result(
                run.state,
                {step.output_key: stored_response(step, result)},
                run.where,
                step_name=step.name,
            )
        except StepFailed as exc:  # the request succeeded: sending it again would not help
            raise StepFailed(str(exc), step_name=step.name, retryable=False) from None
    return StepOutcome(result=result, state=run.state)


def _allowed_names(run: StepRun, step: HttpStep) -> dict[str, Any]:
    """``env`` / ``secrets`` for the step's templates: only the names the deployer allows."""
    templates = [("url", step.url)]
    templates += [(f"headers.{k}", v) for k, v in step.headers.items()]
    templates += [(f"query.{k}", v) for k, v in step.query.items()]
    templates += _body_templates(step.body, "body")
    names = run.loaded.template_names or TemplateNames.from_sources()
    try:
        values = template_values(templates, names, run.where)
    except TemplateError as exc:
        raise StepFailed(str(exc), step_name=step.name, retryable=False) from None
    return {ns: found for ns, found in values.items() if found}


def _body_templates(value: Any, key: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _body_templates(v, f"{key}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _body_templates(v, f"{key}[{i}]")]
    return []


def stored_response(step: HttpStep, response: dict[str, Any]) -> Any:
    """What ``output_key`` receives: the whole response, the body, or the parts in ``includes``.

    Without ``includes`` (our flat form) it is ``{"status_code", "headers", "body"}``; with
    ``includes: [body]`` (the default of the SDK's ``http_config:`` form) the body alone; with more
    than the body, a dict of the parts named.
    """
    if step.includes is None:
        return response
    if step.includes == ["body"]:
        return response["body"]
    return {part: response[part] for part in step.includes}


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise ConfigurationError(
            "HTTP steps need the httpx library, which is not installed. Install it with "
            "pip install 'ruvon[http]'."
        ) from None
    return httpx


def _check_output_key(run: StepRun, step: HttpStep) -> None:
    """Refuse an ``output_key`` that names no state field before any request is sent."""
    key = step.output_key
    model = type(run.state)
    if key is None or key in model.model_fields or model.model_config.get("extra") == "allow":
        return
    raise StepFailed(
        f"{run.where} has 'output_key: {key}', which names no field of {model.__name__} "
        f"(fields: {', '.join(model.model_fields)}). Add a field '{key}' (e.g. "
        f"'{key}: dict[str, Any] | None = None') or fix the key.",
        step_name=step.name,
        retryable=False,
    )


def render_request(
    step: HttpStep, engine: TemplateEngine, where: str, step_name: str | None = None
) -> RenderedRequest:
    """Render the URL, every header and query value, and every string inside the body.

    Raises:
        StepFailed: Not retryable; names the key whose template failed (``url``, ``headers.X``,
            ``query.X``, ``body.a.b``, ``body.items[0]``).
    """

    def render(template: str, key: str) -> str:
        try:
            return engine.render(template)
        except TemplateError as exc:
            raise StepFailed(
                f"{where}: the template of '{key}' failed: {exc}",
                step_name=step_name,
                retryable=False,
            ) from None

    def render_value(value: Any, key: str) -> Any:
        if isinstance(value, str):
            return render(value, key)
        if isinstance(value, dict):
            return {name: render_value(item, f"{key}.{name}") for name, item in value.items()}
        if isinstance(value, list):
            return [render_value(item, f"{key}[{index}]") for index, item in enumerate(value)]
        return value

    return RenderedRequest(
        method=step.method,
        url=render(step.url, "url"),
        headers={name: render(value, f"headers.{name}") for name, value in step.headers.items()},
        query={name: render(value, f"query.{name}") for name, value in step.query.items()},
        body=render_value(step.body, "body"),
    )


async def _send(lib: Any, run: StepRun, step: HttpStep, request: RenderedRequest) -> httpx.Response:
    """Send ``request``; turn transport errors into StepFailed naming step, method and URL."""
    what = f"{run.where}: {request.method} {request.url}"
    content: dict[str, Any] = {}
    headers = dict(request.headers)
    if isinstance(request.body, dict | list):
        content["json"] = request.body
    elif request.body is not None:
        content["content"] = str(request.body)
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/plain; charset=utf-8"
    try:
        async with lib.AsyncClient(timeout=step.timeout_seconds, follow_redirects=True) as client:
            # Merge, not replace: httpx's params= would drop a query written in the URL itself.
            target = lib.URL(request.url).copy_merge_params(request.query)
            response: httpx.Response = await client.request(
                request.method, target, headers=headers, **content
            )
    except (lib.InvalidURL, lib.UnsupportedProtocol) as exc:
        raise StepFailed(
            f"{what} cannot be sent: the URL is not valid ({exc}). Check the step's 'url' and the "
            f"state values it uses; it must render to an absolute http:// or https:// URL.",
            step_name=step.name,
            retryable=False,
        ) from None
    except lib.TimeoutException as exc:
        raise StepFailed(
            f"{what} timed out after {step.timeout_seconds:g} s ({type(exc).__name__}). Raise "
            f"'timeout_seconds' if the server is slow, or check that it is up.",
            step_name=step.name,
        ) from None
    except lib.ConnectError as exc:
        raise StepFailed(
            f"{what} failed: could not connect ({exc}). Check that the server is running and "
            f"reachable at that address.",
            step_name=step.name,
        ) from None
    except lib.HTTPError as exc:
        raise StepFailed(
            f"{what} failed: {type(exc).__name__}: {exc}.", step_name=step.name
        ) from None
    _log.debug(
        "step '%s' (attempt %d): %s %s -> %d",
        step.name,
        run.context.attempt,
        request.method,
        request.url,
        response.status_code,
    )
    return response


def _check_status(
    run: StepRun, step: HttpStep, request: RenderedRequest, response: httpx.Response
) -> None:
    """Accept ``expected_status`` when given, else any status below 400."""
    status = response.status_code
    if (status in step.expected_status) if step.expected_status else status < 400:
        return
    transient = status >= 500 or status in _TRANSIENT_STATUSES
    expected = (
        f"expected {' or '.join(str(s) for s in step.expected_status)}"
        if step.expected_status
        else "expected a status below 400"
    )
    hint = (
        "The server may recover, so this failure is retryable: the step's retry policy decides "
        "how often it is tried (set 'retry: {max_attempts: N}' to try longer)."
        if transient
        else "Retrying would not help: check the URL, the headers and the body."
    )
    excerpt = response.text[:_BODY_EXCERPT].strip()
    raise StepFailed(
        f"{run.where}: {request.method} {request.url} returned {status} "
        f"{response.reason_phrase} ({expected}). {hint}"
        + (f" Response body: {excerpt!r}" if excerpt else ""),
        step_name=step.name,
        retryable=transient,
    )


def _parse_body(response: httpx.Response) -> Any:
    """The body as JSON when the content type says so (and it parses), else as text."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if not is_json:
        return response.text
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        _log.debug("response declared %s but is not JSON; kept as text", content_type)
        return response.text


KINDS = (
    StepKind(
        HttpStep,
        run_http,
        default_retry=RetryPolicy(max_attempts=3, backoff_seconds=0.5, backoff_multiplier=2.0),
    ),
)
