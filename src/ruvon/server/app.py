"""The HTTP server of ``ruvon serve --http``: a JSON API, an OpenAPI page and a live dashboard.

:func:`create_app` builds a FastAPI application over one persistence provider; the same process may
also run a serving worker on that provider (see :mod:`ruvon.server.run`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import StreamingResponse

from ruvon.builder import WorkflowBuilder
from ruvon.errors import (
    ConfigurationError,
    LeaseHeld,
    PersistenceError,
    RuvonError,
    StateValidationError,
    VersionConflict,
    WorkflowNotFound,
    WorkflowStateError,
)
from ruvon.models import WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime.leases import DEFAULT_LEASE_SECONDS, WorkerInfo, session_owner
from ruvon.runtime.start import leases_of, start_workflow
from ruvon.server import queries, svg
from ruvon.server.auth import COOKIE, CSRF_FIELD, Auth
from ruvon.server.details import hint_for, load_details, summary

MAX_BODY = 1 << 20
"""Largest request body accepted (bytes)."""

_STATIC = {"live.js": "text/javascript", "style.css": "text/css"}
_STATUSES = [s.value for s in WorkflowStatus]
_ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class StartRequest(BaseModel):
    """Start a workflow for the serving workers."""

    type: str = Field(description="The workflow_type to start.", max_length=200)
    data: dict[str, Any] = Field(default_factory=dict, description="Its initial state.")
    idempotency_key: str | None = Field(
        default=None, max_length=500, description="Start at most one workflow per key."
    )


class DataRequest(BaseModel):
    """A JSON object for a workflow (human input, a signal's payload)."""

    data: dict[str, Any] = Field(default_factory=dict)


@dataclass(slots=True)
class ServerConfig:
    """What the app serves and how."""

    persistence: PersistenceProvider
    builder: WorkflowBuilder
    auth: Auth
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    poll_seconds: float = 1.0
    stream_seconds: float = 55.0


class ApiError(RuvonError):
    """An error of the HTTP layer with its status code."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def status_code_for(exc: Exception) -> int:
    """The HTTP status of a ruvon error."""
    if isinstance(exc, ApiError):
        return exc.status_code
    if isinstance(exc, WorkflowNotFound):
        return 404
    if isinstance(exc, LeaseHeld | VersionConflict | WorkflowStateError):
        return 409
    if isinstance(exc, ConfigurationError):
        return 500
    if isinstance(exc, StateValidationError | queries.BadCursor | ValueError):
        return 422
    if isinstance(exc, PersistenceError):
        return 503
    return 500


def create_app(
    persistence: PersistenceProvider,
    builder: WorkflowBuilder | None = None,
    *,
    token: str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    poll_seconds: float = 1.0,
) -> FastAPI:
    """The ASGI application serving ``persistence`` (already initialized by the caller).

    Args:
        persistence: The store the workflows are in.
        builder: Finds definitions (``/api/definitions``) and loads workflows for ``retry``
            (default: ``./config`` or ``$RUVON_CONFIG_DIR``).
        token: Required on every API call and dashboard page when given.
        lease_seconds: The workers' lease length (a worker is live if it beat within 3 leases).
        poll_seconds: How often live pages look for changes.
    """
    config = ServerConfig(
        persistence=persistence,
        builder=builder or WorkflowBuilder(),
        auth=Auth(token),
        lease_seconds=lease_seconds,
        poll_seconds=poll_seconds,
    )
    app = FastAPI(
        title="Ruvon",
        summary="Start, watch and steer durable workflows.",
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ruvon = config
    pages = Environment(
        loader=PackageLoader("ruvon.server", "templates"),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
    )
    pages.filters["when"] = _when
    pages.filters["seconds"] = _seconds
    pages.filters["pretty"] = lambda value: json.dumps(value, indent=2, default=str)

    _add_error_handlers(app)
    _add_api(app, config)
    _add_dashboard(app, config, pages)
    app.add_middleware(_Guard, auth=config.auth)
    return app


# -- errors ----------------------------------------------------------------------------------------
def _add_error_handlers(app: FastAPI) -> None:
    async def ruvon_error(request: Request, exc: Exception) -> Response:
        code = status_code_for(exc)
        body: dict[str, Any] = {"error": str(exc), "kind": type(exc).__name__}
        if isinstance(exc, LeaseHeld):
            body["owner"] = exc.owner
            body["lease_expires_at"] = exc.expires_at
        if not request.url.path.startswith(("/api/", "/healthz", "/metrics", "/openapi")):
            return HTMLResponse(_error_page(str(exc)), status_code=code)
        return JSONResponse(body, status_code=code)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            if error.get("type") == "json_invalid":  # loc is then a character position
                reason = (error.get("ctx") or {}).get("error", "")
                problems.append(f"the body is not JSON ({reason or 'JSON decode error'})")
                continue
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        message = (
            f"The request to {request.url.path} is not valid: {'; '.join(problems)}. "
            f"See /docs for what it takes."
        )
        return JSONResponse({"error": message, "kind": "RequestValidationError"}, 422)

    async def http_error(request: Request, exc: Exception) -> Response:
        """The framework's own refusals (unknown path, wrong method, a body it cannot parse) as
        sentences, in the API's error shape."""
        assert isinstance(exc, StarletteHTTPException)
        path, code = request.url.path, exc.status_code
        if code == 404:
            message = f"There is no page or API route {path}. See /docs for the API's routes."
        elif code == 405:
            message = (
                f"{request.method} is not accepted at {path}. See /docs for the methods each "
                f"route takes."
            )
        elif code == 400 and exc.detail == "There was an error parsing the body":
            message = (
                f"The body of the request to {path} could not be parsed: it is not JSON, or it "
                f"is nested too deeply. Send a JSON object; see /docs for what the route takes."
            )
        else:
            message = f"The request to {path} was refused ({code}): {exc.detail}."
        headers = getattr(exc, "headers", None)
        if not path.startswith(("/api/", "/healthz", "/metrics", "/openapi")):
            return HTMLResponse(_error_page(message), status_code=code, headers=headers)
        body = {"error": message, "kind": "HTTPException"}
        return JSONResponse(body, status_code=code, headers=headers)

    app.add_exception_handler(RuvonError, ruvon_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _error_page(message: str) -> str:
    from markupsafe import escape

    return (
        "<!doctype html><meta charset=utf-8><title>ruvon: error</title>"
        '<link rel="stylesheet" href="/static/style.css"><main><h1>Error</h1>'
        f'<p class="error">{escape(message)}</p><p><a href="/">Back to the workflows</a></p></main>'
    )


# -- the JSON API ----------------------------------------------------------------------------------
def _add_api(app: FastAPI, config: ServerConfig) -> None:
    persistence = config.persistence

    @app.get("/healthz", tags=["server"], summary="Whether the server and its store answer")
    async def healthz() -> dict[str, Any]:
        await persistence.list_workflows(limit=1)
        return {"ok": True}

    @app.post(
        "/api/workflows",
        tags=["workflows"],
        status_code=201,
        summary="Start a workflow for the serving workers",
    )
    async def start(body: StartRequest, response: Response) -> dict[str, Any]:
        started = await start_workflow(
            config.builder,
            body.type,
            body.data,
            persistence_provider=persistence,
            idempotency_key=body.idempotency_key,
        )
        if not started.created:
            response.status_code = 200
        return {
            "id": started.workflow_id,
            "created": started.created,
            "data_differs": started.data_differs,
        }

    @app.get("/api/workflows", tags=["workflows"], summary="List workflows, newest first")
    async def list_workflows(
        status: str | None = None,
        type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        if status is not None and status not in _STATUSES:
            raise ApiError(
                f"Unknown status {status!r}; use one of {', '.join(_STATUSES)}.", status_code=422
            )
        if not 1 <= limit <= queries.MAX_PAGE:
            raise ApiError(
                f"limit must be between 1 and {queries.MAX_PAGE}, not {limit}.", status_code=422
            )
        page = await queries.page_workflows(
            persistence, status=status, workflow_type=type, limit=limit, cursor=cursor
        )
        return {
            "workflows": [summary(r) for r in page.records],
            "next_cursor": page.next_cursor,
        }

    @app.get(
        "/api/workflows/{workflow_id}",
        tags=["workflows"],
        summary="One workflow: state, status, current step, history, tasks, errors",
    )
    async def get_workflow(workflow_id: str) -> dict[str, Any]:
        return await load_details(persistence, workflow_id)

    @app.post(
        "/api/workflows/{workflow_id}/input",
        tags=["steer"],
        status_code=202,
        summary="Deliver input to a WAITING_HUMAN workflow (a serving worker goes on)",
    )
    async def give_input(workflow_id: str, body: DataRequest) -> dict[str, Any]:
        return await deliver(config, workflow_id, body.data)

    @app.post(
        "/api/workflows/{workflow_id}/signal/{name}",
        tags=["steer"],
        status_code=202,
        summary="Send a named signal (with data) to a workflow",
    )
    async def signal(workflow_id: str, name: str, body: DataRequest | None = None) -> Response:
        from ruvon.runtime.events import send_signal

        await send_signal(persistence, workflow_id, name, body.data if body else {})
        return JSONResponse({"id": workflow_id, "signal": name, "sent": True}, status_code=202)

    @app.post(
        "/api/workflows/{workflow_id}/cancel",
        tags=["steer"],
        summary="Cancel an unfinished workflow now; its driver stops within one heartbeat",
    )
    async def cancel(workflow_id: str) -> dict[str, Any]:
        return await cancel_workflow(config, workflow_id)

    @app.post(
        "/api/workflows/{workflow_id}/retry",
        tags=["steer"],
        status_code=202,
        summary="Make a FAILED workflow ACTIVE at its failed step and queue it for workers",
    )
    async def retry(workflow_id: str) -> dict[str, Any]:
        return await retry_workflow(config, workflow_id)

    @app.post(
        "/api/workflows/{workflow_id}/resume",
        tags=["steer"],
        status_code=202,
        summary="Queue an ACTIVE (e.g. interrupted) workflow for the serving workers",
    )
    async def resume(workflow_id: str) -> dict[str, Any]:
        return await resume_workflow(config, workflow_id)

    @app.get("/api/definitions", tags=["definitions"], summary="Workflow types, steps, graphs")
    async def definitions() -> dict[str, Any]:
        return {"definitions": definitions_of(config.builder)}

    @app.get("/api/workers", tags=["server"], summary="The live 'ruvon serve' workers")
    async def workers() -> dict[str, Any]:
        found = await leases_of(persistence).workers(time.time() - 3 * config.lease_seconds)
        return {"workers": [worker_json(w) for w in found]}

    try:
        metrics_module: Any = importlib.import_module("ruvon.observability.metrics")
        # The lease and queue gauges of this store, read at scrape time.
        metrics_module.register_runtime_collector(persistence)
    except ImportError:  # the metrics extra (prometheus-client) is not installed
        metrics_module = None

    @app.get("/metrics", tags=["server"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        if metrics_module is None:
            return JSONResponse(
                {
                    "error": "Metrics are not available: prometheus-client is not installed. "
                    "Install it with pip install 'ruvon[metrics]'.",
                    "kind": "NotImplemented",
                },
                status_code=501,
            )
        # The gauges query the store: render off the event loop.
        body, content_type = await asyncio.to_thread(metrics_module.render_latest)
        return Response(content=body, media_type=content_type)

    @app.get("/openapi", include_in_schema=False)
    async def openapi_redirect() -> Response:
        return RedirectResponse("/docs")


async def deliver(config: ServerConfig, workflow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store human input for a WAITING_HUMAN workflow."""
    await leases_of(config.persistence).deliver_input(workflow_id, data)
    return {
        "id": workflow_id,
        "delivered": True,
        "message": f"input delivered to workflow {workflow_id}; a serving worker goes on",
    }


async def cancel_workflow(config: ServerConfig, workflow_id: str) -> dict[str, Any]:
    """Mark an unfinished workflow CANCELLED at once."""
    from ruvon.runtime.session import request_cancel

    old, owner = await request_cancel(leases_of(config.persistence), workflow_id, "HTTP API")
    return {"id": workflow_id, "status": "CANCELLED", "previous_status": old, "owner": owner}


async def _check_lease(config: ServerConfig, workflow_id: str) -> None:
    """Raise LeaseHeld if a live driver holds the workflow (taking and giving the lease back)."""
    store = leases_of(config.persistence)
    owner = session_owner()
    await store.acquire(workflow_id, owner, config.lease_seconds)
    await store.release(workflow_id, owner)


async def retry_workflow(config: ServerConfig, workflow_id: str) -> dict[str, Any]:
    """Make a FAILED workflow ACTIVE again at its failed step and queue it for the workers."""
    from ruvon.runtime.session import hold

    record = await config.persistence.load_workflow(workflow_id)
    if record.status not in (WorkflowStatus.FAILED.value, "FAILED_CHILD_WORKFLOW"):
        raise WorkflowStateError(
            f"Workflow {workflow_id} is {record.status}; only a FAILED workflow can be retried."
        )
    workflow = await config.builder.load_workflow(
        workflow_id, persistence_provider=config.persistence
    )
    async with hold(workflow, ttl=config.lease_seconds):
        await workflow.retry()
    await leases_of(config.persistence).queue(workflow_id)
    return {"id": workflow_id, "status": workflow.status.value, "queued": True}


async def resume_workflow(config: ServerConfig, workflow_id: str) -> dict[str, Any]:
    """Queue an ACTIVE workflow for the serving workers (e.g. one its driver left)."""
    record = await config.persistence.load_workflow(workflow_id)
    if record.status == WorkflowStatus.WAITING_HUMAN.value:
        raise WorkflowStateError(
            f"Workflow {workflow_id} is WAITING_HUMAN: it goes on when it gets its input. "
            f'POST /api/workflows/{workflow_id}/input with {{"data": {{...}}}} (or run '
            f"'ruvon resume {workflow_id} --input ... --detach')."
        )
    if record.status != WorkflowStatus.ACTIVE.value:
        hint = (
            f" Run 'ruvon retry {workflow_id}' (or POST /api/workflows/{workflow_id}/retry) to "
            f"re-run the failed step."
            if record.status == WorkflowStatus.FAILED.value
            else ""
        )
        raise WorkflowStateError(
            f"Workflow {workflow_id} is {record.status}; only an ACTIVE or WAITING_HUMAN "
            f"workflow can be resumed.{hint}"
        )
    await _check_lease(config, workflow_id)
    await leases_of(config.persistence).queue(workflow_id)
    return {"id": workflow_id, "status": record.status, "queued": True}


def definitions_of(builder: WorkflowBuilder) -> list[dict[str, Any]]:
    """Every workflow type the builder finds, with its steps and Mermaid graph."""
    from ruvon.cli.graph import mermaid_flowchart

    out: list[dict[str, Any]] = []
    for workflow_type, path in builder.workflow_types.items():
        try:
            loaded = builder.get_definition(workflow_type)
        except RuvonError as exc:
            out.append({"type": workflow_type, "source": str(path), "error": str(exc)})
            continue
        definition = loaded.definition
        steps = [
            {
                "name": step.name,
                "type": str(step.type),
                **(
                    {"tasks": [t.name for t in getattr(step, "tasks", [])]}
                    if getattr(step, "tasks", None)
                    else {}
                ),
            }
            for step in definition.steps
        ]
        out.append(
            {
                "type": workflow_type,
                "version": definition.workflow_version,
                "description": definition.description,
                "source": str(path),
                "steps": steps,
                "mermaid": mermaid_flowchart(definition),
            }
        )
    return out


def worker_json(worker: WorkerInfo) -> dict[str, Any]:
    """A live worker as JSON."""
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "concurrency": worker.concurrency,
        "types": worker.types,
        "started_at": worker.started_at,
        "heartbeat_at": worker.heartbeat_at,
        "holds": [{"id": i, "type": t, "lease_expires_at": e} for i, t, e in worker.holds],
    }


# -- the dashboard ---------------------------------------------------------------------------------
_ACTIONS = ("cancel", "retry", "resume", "input")


def _add_dashboard(app: FastAPI, config: ServerConfig, pages: Environment) -> None:
    persistence = config.persistence

    def render(name: str, request: Request, **values: Any) -> HTMLResponse:
        partial = request.query_params.get("partial") == "1"
        html = pages.get_template(name).render(
            partial=partial,
            csrf=config.auth.csrf_token(),
            csrf_field=CSRF_FIELD,
            signed_in=config.auth.required,
            **values,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/", include_in_schema=False)
    async def index(
        request: Request,
        status: str | None = None,
        type: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Response:
        status = status or None
        type = type or None
        if status is not None and status not in _STATUSES:
            raise ApiError(f"Unknown status {status!r}; use one of {', '.join(_STATUSES)}.", 422)
        limit = max(1, min(limit, queries.MAX_PAGE))
        page = await queries.page_workflows(
            persistence, status=status, workflow_type=type, limit=limit, cursor=cursor
        )
        counts = await queries.count_by_status(persistence)
        filters = {k: v for k, v in (("status", status), ("type", type)) if v}
        next_link = (
            "/?" + urlencode({**filters, "cursor": page.next_cursor}) if page.next_cursor else None
        )
        return render(
            "index.html",
            request,
            rows=[summary(r) for r in page.records],
            counts=counts,
            total=sum(counts.values()),
            statuses=_STATUSES,
            types=sorted(config.builder.workflow_types),
            status=status,
            type=type,
            next_link=next_link,
            filters=filters,
            events="/ui/events",
        )

    @app.get("/workflows/{workflow_id}", include_in_schema=False)
    async def workflow_page(request: Request, workflow_id: str) -> Response:
        found = await load_details(persistence, workflow_id)
        record_steps = await persistence.load_workflow(workflow_id)
        steps = [s for s in record_steps.definition.get("steps") or [] if isinstance(s, dict)]
        current = None if found["status"] == "COMPLETED" else found["current_step_index"]
        return render(
            "workflow.html",
            request,
            w=found,
            graph=svg.step_graph(steps, current, found["status"]),
            timeline=svg.task_timeline(found["tasks"]),
            hint=hint_for(found["status"], workflow_id),
            message=request.query_params.get("msg"),
            events=f"/ui/events?workflow={workflow_id}",
            can_cancel=found["status"] not in _ENDED,
            can_retry=found["status"] in ("FAILED", "FAILED_CHILD_WORKFLOW"),
            can_resume=found["status"] == "ACTIVE",
            can_input=found["status"] == "WAITING_HUMAN",
        )

    @app.post("/ui/workflows/{workflow_id}/{action}", include_in_schema=False)
    async def act(request: Request, workflow_id: str, action: str) -> Response:
        form = await _form(request)
        if not config.auth.csrf_ok(form.get(CSRF_FIELD)):
            raise ApiError(
                "This form lacks the dashboard's CSRF token, so it was refused. Reload the "
                "workflow's page and use its buttons.",
                403,
            )
        if action not in _ACTIONS:
            raise ApiError(f"Unknown action {action!r}; use one of {', '.join(_ACTIONS)}.", 404)
        if action == "cancel":
            await cancel_workflow(config, workflow_id)
            note = "Cancelled."
        elif action == "retry":
            await retry_workflow(config, workflow_id)
            note = "Retrying: queued for the workers."
        elif action == "resume":
            await resume_workflow(config, workflow_id)
            note = "Queued for the workers."
        else:
            text = form.get("data") or "{}"
            try:
                given = json.loads(text)
            except ValueError as exc:
                raise ApiError(
                    f'The input is not JSON ({exc}); write an object like {{"ok": true}}.', 422
                ) from None
            if not isinstance(given, dict):
                raise ApiError('The input must be a JSON object, like {"ok": true}.', 422)
            await deliver(config, workflow_id, given)
            note = "Input delivered."
        return RedirectResponse(
            f"/workflows/{workflow_id}?" + urlencode({"msg": note}), status_code=303
        )

    @app.get("/ui/events", include_in_schema=False)
    async def events(request: Request, workflow: str | None = None) -> Response:
        if workflow is not None:
            await persistence.load_workflow(workflow)  # 404 for an unknown id
        return StreamingResponse(
            _changes(config, request, workflow),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        return render("login.html", request, next=_safe_next(next), failed=False)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await _form(request)
        target = _safe_next(form.get("next") or "/")
        if not config.auth.token_ok(form.get("token")):
            refused = render("login.html", request, next=target, failed=True)
            refused.status_code = 401
            return refused
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, config.auth)
        return response

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        return render("docs.html", request, api=app.openapi())

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in _STATIC:
            raise ApiError(f"No static file {name!r}.", 404)
        body = resources.files("ruvon.server").joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers={"Cache-Control": "max-age=300"})


_ENDED = (
    "COMPLETED",
    "FAILED",
    "FAILED_ROLLED_BACK",
    "FAILED_CHILD_WORKFLOW",
    "CANCELLED",
    "FAILED_WORKER_CRASH",
)


async def _changes(
    config: ServerConfig, request: Request, workflow_id: str | None
) -> AsyncIterator[str]:
    """Server-sent events: ``change`` whenever what the page shows may have changed."""
    yield "retry: 1000\n\n"
    mark = await queries.change_mark(config.persistence, workflow_id)
    deadline = time.monotonic() + config.stream_seconds
    quiet = 0.0
    while time.monotonic() < deadline:
        await asyncio.sleep(config.poll_seconds)
        if await request.is_disconnected():
            return
        now = await queries.change_mark(config.persistence, workflow_id)
        if now != mark:
            mark = now
            quiet = 0.0
            yield f"event: change\ndata: {json.dumps(now)}\n\n"
        else:
            quiet += config.poll_seconds
            if quiet >= 15:
                quiet = 0.0
                yield ": still here\n\n"


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (first value of each)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _safe_next(target: str) -> str:
    """Only local paths: a login never redirects to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _set_cookie(response: Response, auth: Auth) -> None:
    response.set_cookie(
        COOKIE, auth.session_value(), httponly=True, samesite="strict", path="/", secure=False
    )


def _when(value: float | None) -> str:
    if not value:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}s" if value < 10 else f"{value:.1f}s"


# -- the guard: auth, body size and server timing, as plain ASGI (cheap on every request) ----------
_OPEN = ("/healthz", "/login", "/static/")
_API = ("/api/", "/metrics")


class _Guard:
    """Checks the token or cookie, bounds bodies, and adds a ``Server-Timing`` header."""

    def __init__(self, app: _ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await _send_json(
                send, 413, f"The request body is larger than {MAX_BODY} bytes; send less."
            )
            return
        denied = self._deny(scope, path, headers)
        if denied is not None:
            await denied(send)
            return

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"server-timing", f"app;dur={took:.2f}".encode()),
                ]
            await send(message)

        await self.app(scope, _bounded(receive), timed)

    def _deny(
        self, scope: MutableMapping[str, Any], path: str, headers: dict[str, str]
    ) -> Callable[[Callable[[Any], Awaitable[None]]], Awaitable[None]] | None:
        if not self.auth.required or path.startswith(_OPEN) or path == "/healthz":
            return None
        if self.auth.bearer_ok(headers.get("authorization")):
            return None
        if path.startswith(_API):

            async def unauthorized(send: Callable[[Any], Awaitable[None]]) -> None:
                await _send_json(
                    send,
                    401,
                    "This server needs its API token: send 'Authorization: Bearer <token>' (the "
                    "token given to 'ruvon serve' with --token or RUVON_API_TOKEN).",
                    extra=[(b"www-authenticate", b"Bearer")],
                )

            return unauthorized
        if self.auth.cookie_ok(_cookie(headers.get("cookie"), COOKIE)):
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.pop("token", [None])[0]
        if given is not None and self.auth.token_ok(given) and scope["method"] == "GET":
            rest = urlencode({k: v[0] for k, v in query.items()})
            target = path + ("?" + rest if rest else "")

            async def sign_in(send: Callable[[Any], Awaitable[None]]) -> None:
                response = RedirectResponse(target, status_code=303)
                _set_cookie(response, self.auth)
                await response({"type": "http"}, _nothing, send)

            return sign_in
        if scope["method"] == "GET" and not path.startswith("/ui/") and path != "/openapi.json":
            back = path + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )

            async def to_login(send: Callable[[Any], Awaitable[None]]) -> None:
                response = RedirectResponse("/login?" + urlencode({"next": back}), status_code=303)
                await response({"type": "http"}, _nothing, send)

            return to_login

        async def refused(send: Callable[[Any], Awaitable[None]]) -> None:
            await _send_json(
                send,
                401,
                "Sign in first: open /login and enter the server's token (or add ?token=... to "
                "the dashboard's address once).",
            )

        return refused


async def _nothing() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def _bounded(receive: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """``receive`` that fails a body growing past :data:`MAX_BODY` (chunked uploads)."""
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise ApiError(f"The request body is larger than {MAX_BODY} bytes; send less.", 413)
        return message

    return wrapped


async def _send_json(
    send: Callable[[Any], Awaitable[None]],
    code: int,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    kind = {401: "Unauthorized", 413: "TooLarge"}.get(code, "Error")
    body = json.dumps({"error": message, "kind": kind}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


__all__ = ["ApiError", "ConfigurationError", "ServerConfig", "create_app", "status_code_for"]
