"""The dashboard in headless Chromium: `ruvon serve --http` runs the tutorial, the pages follow it live.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and the ``playwright``
package (never its own browser download). Screenshots go to ``docs/img/`` for the README.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "examples" / "parallel_orders"
SHOTS = REPO / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def _need_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        message = (
            f"{CHROMIUM} is missing; install Debian's chromium package (apt-get install chromium)."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUVON_")}
        env.update(PYTHONHASHSEED="100", PYTHONPATH=str(self.root), NO_COLOR="1")
        with (
            (self.root / f"{name}.out").open("wb") as out,
            (self.root / f"{name}.err").open("wb") as err,
        ):
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ruvon.cli.main",
                    *args,
                    "--db",
                    str(self.root / "ruvon.db"),
                ],
                cwd=self.root,
                env=env,
                stdout=out,
                stderr=err,
            )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def tutorial(tmp_path: Path) -> Iterator[Processes]:
    root = tmp_path / "tutorial"
    shutil.copytree(TUTORIAL, root, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    procs = Processes(root)
    try:
        yield procs
    finally:
        procs.stop_all()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError((root / "http.err").read_text())
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("ruvon serve --http did not answer /healthz within 60 s")


def test_the_dashboard_follows_the_tutorial_live(tutorial: Processes) -> None:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    http = tutorial.spawn("http", "serve", "--http", f"127.0.0.1:{port}", "--no-drive")
    _wait_healthy(url, http, tutorial.root)
    order = (tutorial.root / "order.json").read_text()
    started = httpx.post(
        f"{url}/api/workflows",
        content=f'{{"type": "OrderProcessing", "data": {order}}}',
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert started.status_code == 201, started.text
    workflow_id = started.json()["id"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.goto(url + "/")
            row = page.locator(f'tr[data-id="{workflow_id}"]')
            assert row.locator(".status").inner_text() == "ACTIVE"
            assert page.locator('[data-count="ACTIVE"]').inner_text() == "1"

            page.goto(f"{url}/workflows/{workflow_id}")
            assert page.locator("#status").inner_text() == "ACTIVE"
            page.wait_for_function("document.getElementById('live-state').className.includes('on')")
            page.evaluate("window.__sameDocument = true")

            # Nothing drives the workflow until a worker starts: the page must follow by itself.
            tutorial.spawn("worker", "serve", "--poll", "0.1")
            page.wait_for_function(
                "document.getElementById('status').textContent === 'COMPLETED'", timeout=60_000
            )
            assert page.evaluate("window.__sameDocument") is True  # updated without a reload
            assert int(page.locator("#live").get_attribute("data-refreshed") or "0") >= 1

            bars = page.locator("svg.timeline rect.bar")
            assert bars.count() == 3
            spans = [
                (
                    float(bars.nth(i).get_attribute("data-start") or 0),
                    float(bars.nth(i).get_attribute("data-end") or 0),
                )
                for i in range(3)
            ]
            names = sorted(bars.nth(i).get_attribute("data-task") or "" for i in range(3))
            assert names == ["check_inventory", "fraud_check", "verify_payment"]
            assert max(start for start, _ in spans) < min(end for _, end in spans)  # all overlap
            boxes = [bars.nth(i).bounding_box() for i in range(3)]
            assert all(b is not None for b in boxes)
            lefts = [b["x"] for b in boxes if b]
            rights = [b["x"] + b["width"] for b in boxes if b]
            assert max(lefts) < min(rights)  # drawn overlapping too
            assert (
                page.locator('svg.graph g.step.done[data-step="Calculate_Shipping"]').count() == 1
            )
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "dashboard-workflow.png"), full_page=True)

            page.goto(url + "/")
            assert page.locator(f'tr[data-id="{workflow_id}"] .status').inner_text() == "COMPLETED"
            assert page.locator('[data-count="COMPLETED"]').inner_text() == "1"
            page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
