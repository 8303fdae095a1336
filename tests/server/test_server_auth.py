"""The token, the browser's sign-in cookie, CSRF, and the refusal to listen openly without a token."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server_kit import LiveServer

from ruvon.errors import ConfigurationError
from ruvon.server.auth import Auth
from ruvon.server.run import check_exposure, is_loopback, parse_address

TOKEN = "s3cret-token"


def _start(server: LiveServer) -> str:
    with server.client() as client:
        return str(client.post("/api/workflows", json={"type": "Demo"}).json()["id"])


def test_every_api_call_needs_the_token(token_server: LiveServer) -> None:
    with httpx.Client(base_url=token_server.url, timeout=30) as anonymous:
        for method, path in [
            ("GET", "/api/workflows"),
            ("POST", "/api/workflows"),
            ("GET", "/api/workflows/x"),
            ("POST", "/api/workflows/x/cancel"),
            ("GET", "/api/definitions"),
            ("GET", "/api/workers"),
            ("GET", "/metrics"),
        ]:
            response = anonymous.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer <token>" in response.json()["error"]
        wrong = anonymous.get("/api/workflows", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        basic = anonymous.get("/api/workflows", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        # A signed-in browser's cookie is not an API credential.
        anonymous.cookies.set("ruvon_session", Auth(TOKEN).session_value())
        assert anonymous.get("/api/workflows").status_code == 401
        assert anonymous.get("/healthz").status_code == 200
    with token_server.client() as client:
        assert client.get("/api/workflows").status_code == 200


def test_a_browser_signs_in_once_with_the_login_form(token_server: LiveServer) -> None:
    with httpx.Client(base_url=token_server.url, timeout=30) as browser:
        first = browser.get("/workflows/abc")
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Fworkflows%2Fabc"
        assert browser.get("/ui/events").status_code == 401
        assert browser.get("/docs").status_code == 303

        refused = browser.post("/login", data={"token": "wrong", "next": "/"})
        assert refused.status_code == 401 and "not this server's token" in refused.text
        assert "ruvon_session" not in refused.headers.get("set-cookie", "")

        signed = browser.post("/login", data={"token": TOKEN, "next": "/?status=ACTIVE"})
        assert signed.status_code == 303 and signed.headers["location"] == "/?status=ACTIVE"
        cookie = signed.headers["set-cookie"]
        assert "ruvon_session=" in cookie and TOKEN not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert browser.get("/").status_code == 200
        assert browser.get("/docs").status_code == 200

        elsewhere = browser.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
        assert elsewhere.headers["location"] == "/"


def test_token_in_the_address_sets_the_cookie_and_is_dropped(token_server: LiveServer) -> None:
    with httpx.Client(base_url=token_server.url, timeout=30) as browser:
        wrong = browser.get("/", params={"token": "nope"})
        assert wrong.status_code == 303 and wrong.headers["location"].startswith("/login")
        response = browser.get("/", params={"token": TOKEN, "status": "ACTIVE"})
        assert response.status_code == 303
        assert response.headers["location"] == "/?status=ACTIVE"
        assert "HttpOnly" in response.headers["set-cookie"]
        assert browser.get("/?status=ACTIVE").status_code == 200


def test_forms_without_the_csrf_token_are_refused(token_server: LiveServer) -> None:
    workflow_id = _start(token_server)
    with httpx.Client(base_url=token_server.url, timeout=30) as browser:
        browser.get("/", params={"token": TOKEN})
        page = browser.get(f"/workflows/{workflow_id}").text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf is not None

        forged = browser.post(f"/ui/workflows/{workflow_id}/cancel", data={})
        assert forged.status_code == 403 and "CSRF" in forged.text
        forged = browser.post(f"/ui/workflows/{workflow_id}/cancel", data={"csrf": "0" * 64})
        assert forged.status_code == 403
        with token_server.client() as client:
            assert client.get(f"/api/workflows/{workflow_id}").json()["status"] == "ACTIVE"

        done = browser.post(f"/ui/workflows/{workflow_id}/cancel", data={"csrf": csrf.group(1)})
        assert done.status_code == 303
        with token_server.client() as client:
            assert client.get(f"/api/workflows/{workflow_id}").json()["status"] == "CANCELLED"
        # A form that does not fit the workflow's status shows the CLI's sentence.
        again = browser.post(f"/ui/workflows/{workflow_id}/cancel", data={"csrf": csrf.group(1)})
        assert again.status_code == 409 and "already CANCELLED" in again.text

    with httpx.Client(base_url=token_server.url, timeout=30) as stranger:
        # Not signed in: no form goes through, whatever it carries.
        response = stranger.post(
            f"/ui/workflows/{workflow_id}/cancel", data={"csrf": csrf.group(1)}
        )
        assert response.status_code == 401


def test_forms_need_the_csrf_token_without_a_server_token_too(idle_server: LiveServer) -> None:
    workflow_id = _start(idle_server)
    with httpx.Client(base_url=idle_server.url, timeout=30) as browser:
        assert browser.post(f"/ui/workflows/{workflow_id}/cancel").status_code == 403


def test_addresses() -> None:
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    assert parse_address(":8080") == ("127.0.0.1", 8080)
    assert parse_address("8080") == ("127.0.0.1", 8080)
    with pytest.raises(ConfigurationError, match="HOST:PORT"):
        parse_address("localhost:http")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert not is_loopback("example.org")


def test_a_non_loopback_address_needs_a_token() -> None:
    with pytest.raises(
        ConfigurationError, match=r"Refusing to serve .* on 0\.0\.0\.0 without a token"
    ):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", TOKEN)
    check_exposure("127.0.0.1", None)


def test_ruvon_serve_refuses_to_listen_openly_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    done = subprocess.run(
        [sys.executable, "-m", "ruvon.cli.main", "serve", "--http", "0.0.0.0:0", "--db", "x.db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Refusing to serve the HTTP API and dashboard on 0.0.0.0 without a token" in done.stderr
    assert not (tmp_path / "x.db").exists()


def test_ruvon_serve_http_with_a_token(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
    env["RUVON_API_TOKEN"] = TOKEN
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ruvon.cli.main",
            "serve",
            "--http",
            f"127.0.0.1:{port}",
            "--no-drive",
            "--db",
            "x.db",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert httpx.get(url + "/api/workflows").status_code == 401
        authorized = httpx.get(url + "/api/workflows", headers={"Authorization": f"Bearer {TOKEN}"})
        assert authorized.json() == {"workflows": [], "next_cursor": None}
        assert httpx.get(
            url + "/api/workers", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json() == {"workers": []}  # --no-drive: no worker in this process
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"dashboard and API on http://127.0.0.1:{port}/ (token required)" in err
