"""HTTP steps against a real local server: templating, output, retries, errors, configuration."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import http_kit
import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.workflow import Workflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "http_step"

Run = Callable[..., Awaitable[Workflow]]


@pytest.fixture
def server() -> Iterator[http_kit.Server]:
    srv = http_kit.Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture(params=["memory", "sqlite"])
async def persistence(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[PersistenceProvider]:
    provider: PersistenceProvider
    if request.param == "memory":
        provider = InMemoryPersistenceProvider()
    else:
        provider = SQLitePersistenceProvider(tmp_path / "db.sqlite")
    yield provider
    await provider.close()


@pytest.fixture
def memory() -> PersistenceProvider:
    return InMemoryPersistenceProvider()


@pytest.fixture
def run(tmp_path: Path, server: http_kit.Server) -> Run:
    """Write ``steps`` (YAML text, BASE = the server's URL) as a definition; create and run it."""

    async def go(
        steps: str,
        persistence: PersistenceProvider,
        model: str = "http_kit.State",
        drive: bool = True,
        **initial: Any,
    ) -> Workflow:
        config = tmp_path / "config"
        config.mkdir(exist_ok=True)
        text = (
            f"workflow_type: HttpTest\nworkflow_version: '1'\ninitial_state_model: {model}\n"
            f"steps:\n{textwrap.indent(textwrap.dedent(steps), '  ')}"
        )
        (config / "workflow.yaml").write_text(text.replace("BASE", server.base), encoding="utf-8")
        builder = WorkflowBuilder(config_dir=config)
        workflow = await builder.create_workflow(
            "HttpTest",
            persistence_provider=persistence,
            execution_provider=SyncExecutor(),
            initial_data=initial,
        )
        if drive:
            await workflow.run_to_completion()
        return workflow

    return go


def state_of(workflow: Workflow) -> http_kit.State:
    assert isinstance(workflow.state, http_kit.State)
    return workflow.state


async def saved_state(persistence: PersistenceProvider, workflow: Workflow) -> dict[str, Any]:
    return (await persistence.load_workflow(workflow.id)).state


async def retries(persistence: PersistenceProvider, workflow: Workflow) -> int:
    return sum(e.event == "STEP_RETRY" for e in await persistence.load_log(workflow.id))


# -- success ---------------------------------------------------------------------------------------
async def test_get_renders_url_query_and_headers_and_stores_the_response(
    run: Run, server: http_kit.Server, persistence: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: fetch
          type: http
          method: get
          url: "BASE/orders/{{ state.order_id }}?fixed=yes"
          headers: {X-Token: "Bearer {{ state.token }}"}
          query: {qty: "{{ state.qty * 2 }}"}
          output_key: order
        """,
        persistence,
        order_id="B-7",
    )
    assert workflow.status == "COMPLETED", workflow.error
    [call] = server.calls
    assert (call.method, call.path) == ("GET", "/orders/B-7")
    assert call.query == {"qty": "4", "fixed": "yes"}
    assert call.headers["x-token"] == "Bearer secret"
    order = state_of(workflow).order
    assert order is not None
    assert order["status_code"] == 200
    assert order["headers"]["content-type"] == "application/json"
    assert order["body"]["seen"]["path"] == "/orders/B-7"
    assert (await saved_state(persistence, workflow))["order"] == order


async def test_post_sends_a_rendered_json_body(
    run: Run, server: http_kit.Server, persistence: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: create
          type: HTTP
          method: post
          url: BASE/orders
          body:
            order: "{{ state.order_id }}"
            lines: [{sku: "W-{{ state.qty }}", qty: 3}, "{{ state.token | upper }}"]
            gift: false
          output_key: created
          expected_status: [200, 201]
        """,
        persistence,
    )
    assert workflow.status == "COMPLETED", workflow.error
    [call] = server.calls
    assert call.method == "POST"
    assert call.headers["content-type"] == "application/json"
    sent = {"order": "A-1", "lines": [{"sku": "W-2", "qty": 3}, "SECRET"], "gift": False}
    assert json.loads(call.body) == sent
    created = state_of(workflow).created
    assert created is not None
    assert json.loads(created["body"]["seen"]["body"]) == sent
    assert (await saved_state(persistence, workflow))["created"] == created


async def test_text_body_and_text_response_and_step_result(
    run: Run, server: http_kit.Server, memory: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: send
          type: http
          method: POST
          url: BASE/text
          body: "order {{ state.order_id }}"
        """,
        memory,
        drive=False,
    )
    result, next_step = await workflow.next_step()
    assert (workflow.status, next_step) == ("COMPLETED", None), workflow.error
    assert server.calls[0].body == "order A-1"
    assert server.calls[0].headers["content-type"].startswith("text/plain")
    assert result["status_code"] == 200
    assert result["body"] == "plain words"
    assert state_of(workflow).order is None  # no output_key: the state is left alone


async def test_loop_body_templates_see_the_current_item(
    run: Run, server: http_kit.Server, memory: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: each
          type: LOOP
          iterate_over: state.ids
          item_var_name: id
          loop_body:
            - name: get_one
              type: HTTP
              url: "BASE/items/{{ id }}"
              query: {i: "{{ index }}"}
        """,
        memory,
        ids=["x", "y"],
    )
    assert workflow.status == "COMPLETED", workflow.error
    assert [(c.path, c.query) for c in server.calls] == [
        ("/items/x", {"i": "0"}),
        ("/items/y", {"i": "1"}),
    ]


# -- retries ---------------------------------------------------------------------------------------
async def test_a_transient_failure_is_retried_then_succeeds(
    run: Run, server: http_kit.Server, persistence: PersistenceProvider
) -> None:
    server.fail_first = 2
    workflow = await run(
        """
        - name: fetch
          type: http
          url: BASE/flaky
          output_key: order
          retry: {max_attempts: 3, backoff_seconds: 0}
        """,
        persistence,
    )
    assert workflow.status == "COMPLETED", workflow.error
    assert server.paths() == ["/flaky"] * 3
    order = state_of(workflow).order
    assert order is not None
    assert order["body"]["n"] == 3
    assert await retries(persistence, workflow) == 2


async def test_exhausted_retries_fail_naming_url_and_status_and_keep_the_last_state(
    run: Run, server: http_kit.Server, persistence: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: prepare
          function: http_kit.mark
          automate_next: true
        - name: fetch
          type: http
          url: BASE/status/503
          output_key: order
          retry: {max_attempts: 2, backoff_seconds: 0}
        """,
        persistence,
    )
    assert workflow.status == "FAILED"
    error = workflow.error or ""
    assert f"GET {server.base}/status/503 returned 503 Service Unavailable" in error
    assert "step 'fetch'" in error
    assert server.paths() == ["/status/503"] * 2
    assert state_of(workflow).marker == "prepared"
    saved = await saved_state(persistence, workflow)
    assert (saved["marker"], saved["order"]) == ("prepared", None)
    record = await persistence.load_workflow(workflow.id)
    assert record.status == "FAILED"


@pytest.mark.parametrize(("status", "calls"), [(500, 2), (429, 2), (400, 1), (404, 1), (422, 1)])
async def test_only_5xx_and_429_are_retried(
    run: Run, server: http_kit.Server, memory: PersistenceProvider, status: int, calls: int
) -> None:
    workflow = await run(
        f"""
        - name: fetch
          type: http
          url: BASE/status/{status}
          retry: {{max_attempts: 2, backoff_seconds: 0}}
        """,
        memory,
    )
    assert workflow.status == "FAILED"
    assert f"returned {status}" in (workflow.error or "")
    assert len(server.calls) == calls


async def test_404_fails_at_once_under_the_default_policy(
    run: Run, server: http_kit.Server, persistence: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: fetch
          type: http
          url: "BASE/status/404"
        """,
        persistence,
    )
    assert workflow.status == "FAILED"
    error = workflow.error or ""
    assert f"GET {server.base}/status/404 returned 404 Not Found" in error
    assert "Retrying would not help" in error
    assert "'status page'" in error  # an excerpt of the response body
    assert len(server.calls) == 1
    assert await retries(persistence, workflow) == 0


# -- transport errors ------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_fails_with_a_clear_message(
    run: Run, persistence: PersistenceProvider
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/orders"
    workflow = await run(
        f"""
        - name: fetch
          type: http
          method: post
          url: {url}
          body: {{a: 1}}
          retry: {{max_attempts: 2, backoff_seconds: 0}}
        """,
        persistence,
    )
    assert workflow.status == "FAILED"
    error = workflow.error or ""
    assert f"step 'fetch': POST {url} failed: could not connect" in error
    assert "Check that the server is running" in error
    assert await retries(persistence, workflow) == 1  # a connection error is retryable


async def test_a_timeout_fails_naming_the_limit(
    run: Run, server: http_kit.Server, memory: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: fetch
          type: http
          url: BASE/slow
          timeout_seconds: 0.2
          retry: {max_attempts: 1}
        """,
        memory,
    )
    assert workflow.status == "FAILED"
    assert f"GET {server.base}/slow timed out after 0.2 s" in (workflow.error or "")


async def test_a_url_that_renders_invalid_is_not_retried(
    run: Run, memory: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: fetch
          type: http
          url: "{{ state.order_id }}/x"
        """,
        memory,
    )
    assert workflow.status == "FAILED"
    error = workflow.error or ""
    assert "GET A-1/x cannot be sent: the URL is not valid" in error
    assert await retries(memory, workflow) == 0


# -- expected_status -------------------------------------------------------------------------------
async def test_expected_status_accepts_a_listed_4xx(
    run: Run, server: http_kit.Server, memory: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: absent
          type: http
          url: BASE/status/404
          expected_status: [404]
          output_key: order
        """,
        memory,
    )
    assert workflow.status == "COMPLETED", workflow.error
    order = state_of(workflow).order
    assert order is not None
    assert order["status_code"] == 404


async def test_expected_status_refuses_an_unlisted_2xx_without_retry(
    run: Run, server: http_kit.Server, persistence: PersistenceProvider
) -> None:
    workflow = await run(
        """
        - name: create
          type: http
          method: post
          url: BASE/orders
          expected_status: [201]
        """,
        persistence,
    )
    assert workflow.status == "FAILED"
    assert f"POST {server.base}/orders returned 200 OK (expected 201)" in (workflow.error or "")
    assert len(server.calls) == 1


# -- templates, output and configuration -----------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "key"),
    [
        ('url: "BASE/{{ state.nope }}"', "url"),
        ('url: BASE/a\n  headers: {X-Token: "{{ state.nope }}"}', "headers.X-Token"),
        ('url: BASE/a\n  query: {q: "{{ state.nope }}"}', "query.q"),
        ('url: BASE/a\n  body: {lines: [{sku: "{{ state.nope }}"}]}', "body.lines[0].sku"),
    ],
)
async def test_a_template_naming_a_missing_field_fails_naming_the_key(
    run: Run, server: http_kit.Server, memory: PersistenceProvider, where: str, key: str
) -> None:
    workflow = await run(f"- name: fetch\n  type: http\n  {where}\n", memory)
    assert workflow.status == "FAILED"
    error = workflow.error or ""
    assert f"step 'fetch': the template of '{key}' failed" in error
    assert "nope" in error
    assert server.calls == []
    assert await retries(memory, workflow) == 0


async def test_an_output_the_model_rejects_fails_without_resending(
    run: Run, server: http_kit.Server, memory: PersistenceProvider
) -> None:
    ok = await run(
        "- name: fetch\n  type: http\n  url: BASE/ints\n  output_key: reply\n",
        memory,
        model="http_kit.StrictState",
    )
    assert ok.status == "COMPLETED", ok.error
    assert isinstance(ok.state, http_kit.StrictState)
    assert ok.state.reply == http_kit.Reply(status_code=200, body=[1, 2, 3])

    bad = await run(
        "- name: fetch\n  type: http\n  url: BASE/text\n  output_key: reply\n",
        memory,
        model="http_kit.StrictState",
    )
    assert bad.status == "FAILED"
    assert "set the field 'reply'" in (bad.error or "")
    assert server.paths() == ["/ints", "/text"]


async def test_an_output_key_that_is_no_field_fails_before_sending(
    run: Run, server: http_kit.Server, memory: PersistenceProvider
) -> None:
    workflow = await run("- name: fetch\n  type: http\n  url: BASE/a\n  output_key: ordr\n", memory)
    assert workflow.status == "FAILED"
    assert "'output_key: ordr', which names no field of State" in (workflow.error or "")
    assert server.calls == []


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ("- name: fetch\n  type: http\n  method: GET\n", ["url", "fetch"]),
        ("- name: fetch\n  type: http\n  url: BASE/a\n  timeout: 3\n", ["timeout", "fetch"]),
    ],
)
async def test_bad_configuration_is_a_definition_error_at_load(
    run: Run, memory: PersistenceProvider, step: str, words: list[str]
) -> None:
    with pytest.raises(DefinitionError) as caught:
        await run(step, memory)
    for word in words:
        assert word in str(caught.value)


async def test_without_httpx_the_step_says_what_to_install(
    run: Run, server: http_kit.Server, memory: PersistenceProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    workflow = await run("- name: fetch\n  type: http\n  url: BASE/a\n", memory)
    assert workflow.status == "FAILED"
    assert "pip install 'ruvon[http]'" in (workflow.error or "")
    assert server.calls == []


# -- the example -----------------------------------------------------------------------------------
def test_the_example_runs_offline() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("RUVON_CONFIG_DIR", None)
    proc = subprocess.run(
        [sys.executable, "main.py"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "status: COMPLETED" in out
    assert "attempts on /inventory: 2" in out
    assert "order ORD-42: 2 x WIDGET reserved" in out
