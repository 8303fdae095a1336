"""The JSON API against a real uvicorn, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from server_kit import LiveServer, wait_for_status


def _start(client, data=None, key=None) -> str:
    body = {"type": "Demo", "data": data or {}}
    if key is not None:
        body["idempotency_key"] = key
    response = client.post("/api/workflows", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def test_a_workflow_runs_waits_for_input_and_completes(server: LiveServer) -> None:
    with server.client() as client:
        workflow_id = _start(client, {"n": 1})
        waiting = wait_for_status(client, workflow_id, "WAITING_HUMAN")
        assert waiting["type"] == "Demo"
        # Approve paused (finished): the workflow waits for input for the step after it.
        assert waiting["current_step"] == "Finish"
        assert waiting["state"]["n"] == 2
        steps = [(e["event"], e["step"]) for e in waiting["history"]]
        assert ("STEP_COMPLETED", "Prepare") in steps
        assert ("STEP_COMPLETED", "Fan") in steps
        for entry in waiting["history"]:
            if entry["event"] == "STEP_COMPLETED":
                assert entry["ended_at"] >= entry["started_at"] > 0
        tasks = {t["task"]: t for t in waiting["tasks"]}
        assert set(tasks) == {"task_a", "task_b", "task_c"}
        assert all(
            t["status"] == "COMPLETED" and t["ended_at"] > t["started_at"] for t in tasks.values()
        )
        assert [s["name"] for s in waiting["steps"]] == ["Prepare", "Fan", "Approve", "Finish"]

        given = client.post(f"/api/workflows/{workflow_id}/input", json={"data": {"ok": True}})
        assert given.status_code == 202, given.text
        done = wait_for_status(client, workflow_id, "COMPLETED")
        assert done["state"]["ok"] is True and done["state"]["done"] is True
        assert done["error"] is None

        listed = client.get("/api/workflows", params={"status": "COMPLETED"}).json()
        assert [w["id"] for w in listed["workflows"]] == [workflow_id]


def test_idempotency_key_returns_the_first_workflow(idle_server: LiveServer) -> None:
    with idle_server.client() as client:
        first = client.post("/api/workflows", json={"type": "Demo", "idempotency_key": "k-1"})
        again = client.post(
            "/api/workflows", json={"type": "Demo", "data": {"n": 5}, "idempotency_key": "k-1"}
        )
        assert first.status_code == 201 and first.json()["created"] is True
        assert again.status_code == 200
        assert again.json() == {"id": first.json()["id"], "created": False, "data_differs": True}


def test_pages_with_a_cursor_and_filters(idle_server: LiveServer) -> None:
    with idle_server.client() as client:
        started = {_start(client, {"n": i}) for i in range(5)}
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/workflows", params=params).json()
            seen += [w["id"] for w in page["workflows"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert len(seen) == 5 and set(seen) == started
        assert (
            len(client.get("/api/workflows", params={"status": "ACTIVE"}).json()["workflows"]) == 5
        )
        assert client.get("/api/workflows", params={"type": "Other"}).json()["workflows"] == []
        assert client.get("/api/workflows", params={"status": "COMPLETED"}).json() == {
            "workflows": [],
            "next_cursor": None,
        }

        bad = client.get("/api/workflows", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422 and "cursor" in bad.json()["error"]
        bad = client.get("/api/workflows", params={"status": "DONE"})
        assert bad.status_code == 422 and "Unknown status 'DONE'" in bad.json()["error"]
        bad = client.get("/api/workflows", params={"limit": 0})
        assert bad.status_code == 422


def test_errors_are_json_sentences_with_status_codes(idle_server: LiveServer) -> None:
    with idle_server.client() as client:
        missing = client.get("/api/workflows/no-such-id")
        assert missing.status_code == 404
        assert missing.json()["kind"] == "WorkflowNotFound"
        assert "No workflow with id 'no-such-id'" in missing.json()["error"]
        assert client.post("/api/workflows/no-such-id/cancel").status_code == 404

        unknown = client.post("/api/workflows", json={"type": "Nope"})
        assert unknown.status_code == 404 and "Nope" in unknown.json()["error"]
        invalid = client.post("/api/workflows", json={"data": {}})
        assert invalid.status_code == 422
        assert "type" in invalid.json()["error"] and "not valid" in invalid.json()["error"]
        wrong_state = client.post("/api/workflows", json={"type": "Demo", "data": {"n": "x"}})
        assert wrong_state.status_code == 422, wrong_state.text

        workflow_id = _start(client)
        early = client.post(f"/api/workflows/{workflow_id}/input", json={"data": {"ok": True}})
        assert early.status_code == 409
        assert "not WAITING_HUMAN" in early.json()["error"]
        not_failed = client.post(f"/api/workflows/{workflow_id}/retry")
        assert not_failed.status_code == 409
        assert "only a FAILED workflow can be retried" in not_failed.json()["error"]

        cancelled = client.post(f"/api/workflows/{workflow_id}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "CANCELLED"
        again = client.post(f"/api/workflows/{workflow_id}/cancel")
        assert again.status_code == 409
        assert (
            "already CANCELLED; only a running workflow can be cancelled" in again.json()["error"]
        )
        resumed = client.post(f"/api/workflows/{workflow_id}/resume")
        assert resumed.status_code == 409 and "can be resumed" in resumed.json()["error"]

        too_big = client.post(
            "/api/workflows", content=b"x" * (1 << 21), headers={"content-type": "application/json"}
        )
        assert too_big.status_code == 413


def test_bodies_routes_and_methods_it_cannot_take_get_sentences(idle_server: LiveServer) -> None:
    """What the framework refuses (not JSON, nested too deeply, no such route or method) gets a
    sentence in the API's error shape too, never the framework's own ``detail``."""
    with idle_server.client() as client:
        json_type = {"content-type": "application/json"}
        not_json = client.post("/api/workflows", content=b"{not json", headers=json_type)
        assert not_json.status_code == 422
        assert "the body is not JSON (Expecting property name" in not_json.json()["error"]
        deep = client.post("/api/workflows", content=b"[" * 100_000, headers=json_type)
        assert deep.status_code == 400
        assert deep.json() == {
            "error": "The body of the request to /api/workflows could not be parsed: it is not "
            "JSON, or it is nested too deeply. Send a JSON object; see /docs for what the route "
            "takes.",
            "kind": "HTTPException",
        }
        nowhere = client.get("/api/no-such-route")
        assert nowhere.status_code == 404 and "detail" not in nowhere.json()
        assert "no page or API route /api/no-such-route" in nowhere.json()["error"]
        wrong = client.delete("/api/workflows")
        assert wrong.status_code == 405
        assert "DELETE is not accepted at /api/workflows" in wrong.json()["error"]
        page = client.get("/no-such-page")
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "no page or API route /no-such-page" in page.text


def test_resume_is_refused_while_another_driver_holds_the_lease(idle_server: LiveServer) -> None:
    from ruvon.cli.store import open_store
    from ruvon.runtime.start import leases_of

    with idle_server.client() as client:
        workflow_id = _start(client)

        async def take() -> None:
            store = open_store(idle_server.db)
            await store.initialize()
            try:
                await leases_of(store).acquire(workflow_id, "elsewhere:1:abc", 60)
            finally:
                await store.close()

        asyncio.run(take())
        held = client.post(f"/api/workflows/{workflow_id}/resume")
        assert held.status_code == 409
        body = held.json()
        assert body["kind"] == "LeaseHeld" and body["owner"] == "elsewhere:1:abc"
        assert "is being driven by owner elsewhere:1:abc" in body["error"]


def test_resume_queues_an_active_workflow_for_workers(idle_server: LiveServer) -> None:
    with idle_server.client() as client:
        workflow_id = _start(client)
        resumed = client.post(f"/api/workflows/{workflow_id}/resume")
        assert resumed.status_code == 202
        assert resumed.json() == {"id": workflow_id, "status": "ACTIVE", "queued": True}


def test_retry_after_a_failure(server: LiveServer) -> None:
    with server.client() as client:
        workflow_id = _start(client, {"fail_once": True})
        wait_for_status(client, workflow_id, "WAITING_HUMAN")
        client.post(f"/api/workflows/{workflow_id}/input", json={"data": {"ok": True}})
        failed = wait_for_status(client, workflow_id, "FAILED")
        assert failed["error"]["step"] == "Finish"
        assert "the shipping service said no" in failed["error"]["message"]
        assert f"ruvon retry {workflow_id}" in failed["error"]["hint"]
        page = client.get(f"/workflows/{workflow_id}").text
        assert 'id="error"' in page and "the shipping service said no" in page
        assert 'id="retry"' in page and 'class="step current failed"' in page

        retried = client.post(f"/api/workflows/{workflow_id}/retry")
        assert retried.status_code == 202, retried.text
        done = wait_for_status(client, workflow_id, "COMPLETED")
        assert done["retries"][0]["step"] == "Finish"


def test_definitions_workers_and_health(server: LiveServer) -> None:
    with server.client() as client:
        definitions = client.get("/api/definitions").json()["definitions"]
        assert sorted(d["type"] for d in definitions) == ["Demo", "Signalled"]
        (demo,) = [d for d in definitions if d["type"] == "Demo"]
        assert demo["type"] == "Demo"
        assert [s["name"] for s in demo["steps"]] == ["Prepare", "Fan", "Approve", "Finish"]
        assert demo["steps"][1]["tasks"] == ["task_a", "task_b", "task_c"]
        assert demo["mermaid"].startswith("flowchart TD")

        deadline_workers = []
        for _ in range(200):
            deadline_workers = client.get("/api/workers").json()["workers"]
            if deadline_workers:
                break
            time.sleep(0.05)
        assert len(deadline_workers) == 1 and deadline_workers[0]["concurrency"] == 4

        assert client.get("/healthz").json() == {"ok": True}
        spec = client.get("/openapi.json").json()
        paths = set(spec["paths"])
        assert {
            "/api/workflows",
            "/api/workflows/{workflow_id}",
            "/api/workflows/{workflow_id}/input",
            "/api/workflows/{workflow_id}/signal/{name}",
            "/api/workflows/{workflow_id}/cancel",
            "/api/workflows/{workflow_id}/retry",
            "/api/workflows/{workflow_id}/resume",
            "/api/definitions",
            "/api/workers",
            "/healthz",
            "/metrics",
        } <= paths
        page = client.get("/docs")
        assert page.status_code == 200 and "/api/workflows/{workflow_id}/retry" in page.text


def test_a_signal_sent_over_http_moves_a_waiting_workflow_on(server: LiveServer) -> None:
    with server.client() as client:
        missing = client.post("/api/workflows/no-such-id/signal/go", json={"data": {"n": 1}})
        assert missing.status_code == 404, missing.text
        started = client.post("/api/workflows", json={"type": "Signalled", "data": {}})
        assert started.status_code in (200, 201), started.text
        workflow_id = started.json()["id"]
        wait_for_status(client, workflow_id, "WAITING_SIGNAL")
        sent = client.post(f"/api/workflows/{workflow_id}/signal/go", json={"data": {"n": 7}})
        assert sent.status_code == 202, sent.text
        done = wait_for_status(client, workflow_id, "COMPLETED")
        assert done["state"]["n"] == 7 and done["state"]["done"] is True
        ended = client.post(f"/api/workflows/{workflow_id}/signal/go", json={"data": {}})
        assert ended.status_code == 409, ended.text


def test_metrics_count_what_this_process_drives_and_read_the_store(
    project_root: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    monkeypatch.setenv("RUVON_METRICS", "1")  # what 'ruvon serve --http' sets by default
    live = LiveServer(project_root, db).start()
    try:
        with live.client() as client:
            workflow_id = _start(client)
            wait_for_status(client, workflow_id, "WAITING_HUMAN")
            idle = client.post("/api/workflows", json={"type": "Demo", "data": {}})
            assert idle.status_code in (200, 201)
            response = client.get("/metrics")
    finally:
        live.stop()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert samples[("ruvon_workflows_started_total", (("workflow_type", "Demo"),))] >= 1
    assert samples[("ruvon_runtime_up", ())] == 1
    steps = [key for key in samples if key[0] == "ruvon_step_duration_seconds_count"]
    assert any(("workflow_type", "Demo") in labels for _, labels in steps)
    assert ("ruvon_queue_depth", ()) in samples and ("ruvon_active_leases", ()) in samples


def test_dashboard_pages_render(server: LiveServer) -> None:
    with server.client() as client:
        workflow_id = _start(client)
        wait_for_status(client, workflow_id, "WAITING_HUMAN")
        index = client.get("/")
        assert index.status_code == 200
        assert workflow_id in index.text and 'data-count="WAITING_HUMAN">1<' in index.text
        assert "server-timing" in index.headers
        page = client.get(f"/workflows/{workflow_id}")
        assert page.status_code == 200
        assert page.text.count('class="bar completed"') == 3
        assert 'class="step current"' in page.text and 'data-step="Approve"' in page.text
        assert 'name="data"' in page.text  # the input form
        partial = client.get(f"/workflows/{workflow_id}", params={"partial": "1"})
        assert "<html" not in partial.text and 'id="status"' in partial.text
        assert client.get("/workflows/nope").status_code == 404
        assert client.get("/static/live.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/static/../app.py").status_code == 404


def test_live_events_report_a_change(idle_server: LiveServer) -> None:
    with idle_server.client() as client:
        workflow_id = _start(client)
        with client.stream("GET", "/ui/events", params={"workflow": workflow_id}) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 1000"
            assert client.post(f"/api/workflows/{workflow_id}/cancel").status_code == 200
            for line in lines:
                if line.startswith("event:"):
                    assert line == "event: change"
                    break
        assert client.get("/ui/events", params={"workflow": "nope"}).status_code == 404


def test_no_tasks_yet_draws_no_bars(idle_server: LiveServer, project_root: Path) -> None:
    with idle_server.client() as client:
        workflow_id = _start(client)
        page = client.get(f"/workflows/{workflow_id}").text
        assert "No PARALLEL task has run yet." in page and 'class="bar' not in page
