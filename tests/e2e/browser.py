"""Shared fixtures for browser tests: Chromium driven by Playwright against a live server,
with a real Celery worker process on the same database.

Use them from a test module under tests/e2e (the worker fixture lives in its conftest):

    pytest_plugins = ["tests.e2e.browser"]

    def test_x(live_app, browser_page, webhook_receiver):
        live_app.log_in(browser_page, user)
        browser_page.goto(live_app("/workflows/"))
        live_app.screenshot(browser_page, "x.png")  # under test-output/

`live_site` is pytest-django's live server (a thread of this process, on the test
database, which is a file under PYQ_DATA_DIR for SQLite); `live_app` adds the worker
process started by tests/e2e/conftest.py with the same DATABASE_URL, media folder and
broker, and lets webhooks reach loopback (PYQ_ALLOW_PRIVATE_URLS) in both. Chromium is
Debian's /usr/bin/chromium; the tests skip without it unless PYQ_REQUIRE_BROWSER=1 (CI),
where they fail instead.

PYTEST_DONT_REWRITE: this module has no asserts of its own, and test modules may import it
before pytest_plugins loads it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"  # screenshots (git-ignored)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 1000}


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("PYQ_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser_page(monkeypatch) -> Iterator:
    """A fresh Chromium page (1440×1000); the browser closes after the test."""
    require_browser()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # between browser actions are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # tests assert the page ran without script errors
        try:
            yield page
        finally:
            page.goto("about:blank")  # no page left polling the live server
            context.close()
            browser.close()
            # ORM calls made beside Playwright's event loop may have opened their own
            # connection; close it, or PostgreSQL cannot drop the test database.
            connections.close_all()


@dataclass
class LiveSite:
    """The live server's address, and what a browser test does with it."""

    url: str

    def __call__(self, path: str) -> str:
        return self.url + path

    def log_in(self, page, user) -> None:
        log_in(page, self.url, user)

    @staticmethod
    def screenshot(page, name: str) -> Path:
        return screenshot(page, name)


@dataclass
class LiveApp(LiveSite):
    worker_log: Path = Path()


@pytest.fixture
def live_site(live_server) -> LiveSite:
    """The live server alone (the pages, no worker)."""
    return LiveSite(live_server.url)


@pytest.fixture
def live_app(live_server, monkeypatch, settings, request) -> LiveApp:
    """The live server and a worker process sharing its database, media and broker.

    Webhooks may reach the test's receivers on 127.0.0.1, here and in the worker (the
    environment is set before the worker starts)."""
    monkeypatch.setenv("PYQ_ALLOW_PRIVATE_URLS", "1")
    settings.PYQ_ALLOW_PRIVATE_URLS = True
    worker_log = request.getfixturevalue("celery_worker_process")
    return LiveApp(live_server.url, worker_log)


def log_in(page, base_url: str, user) -> None:
    """Give the browser a session of `user` (as Client.force_login makes it)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )


def screenshot(page, name: str) -> Path:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    page.evaluate("window.scrollTo(0, 0)")  # sticky panels then sit where a reader expects
    page.screenshot(path=str(path), full_page=True)
    return path


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200  # what it answers


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """An HTTP server on 127.0.0.1 that records every POST it gets."""
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.requests.append(Received(self.path, headers, body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
