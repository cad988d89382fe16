"""Browser tests: the real server (uvicorn, on a free port, SQLite, demo data) driven by Playwright through
Debian's Chromium, launched by its path (Playwright cannot download a browser here).

`.ci/run` installs Chromium and sets `POSC_BROWSER_TESTS=required`, so in CI a missing browser fails the run;
elsewhere these tests are skipped, with the reason, when `/usr/bin/chromium` is absent.
Screenshots of the main pages are written to `reports/screenshots/` for people to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.demo import DemoUser, load_demo
from engine import Database, Settings

CHROMIUM = os.environ.get("POSC_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
#: A tablet held upright (the smallest screen the pages are designed for), and a desktop.
TABLET = {"width": 768, "height": 1024}
DESKTOP = {"width": 1280, "height": 900}
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-extensions", "--no-first-run"]


@dataclass
class LiveServer:
    url: str
    keys: dict[str, str]
    users: list[DemoUser]
    db: Database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    path = tmp_path_factory.mktemp("browser") / "posc.db"
    settings = Settings(database_url=f"sqlite:///{path}", tick_seconds=0)
    app = create_app(settings)
    services = app.state.services
    users = load_demo(services.db, services.cases, services.clock)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="posc-live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the live server did not start within 20 s")
        time.sleep(0.1)
    yield LiveServer(url, {u.role: u.api_key for u in users}, users, services.db)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("POSC_BROWSER_TESTS") == "required":
            pytest.fail(f"Chromium is required for the browser tests but {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Person:
    """One person at a browser: their own context (cookies), signed in through the sign-in page."""

    def __init__(self, chromium: Any, server: LiveServer, role: str, viewport: dict[str, int]) -> None:
        self.server = server
        self.role = role
        self.context = chromium.new_context(viewport=viewport, locale="en-US", timezone_id="America/New_York")
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", self._failed_request)

    def _failed_request(self, response: Any) -> None:
        """A server error anywhere, or a missing script, style sheet or image (a refused form is a page: 4xx)."""
        kind = response.request.resource_type
        if response.status >= 500 or (response.status >= 400 and kind != "document"):
            self.errors.append(f"{response.status} {response.request.method} {response.url}")

    def _console(self, message: Any) -> None:
        # A refused form answers 4xx, which Chromium also reports on the console: that one is expected.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def sign_in(self) -> Person:
        self.page.goto(f"{self.server.url}/ui/")
        self.page.get_by_label("API key").fill(self.server.keys[self.role])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(lambda url: "/sign-in" not in url)
        return self

    def go(self, path: str) -> Any:
        self.page.goto(f"{self.server.url}{path}")
        return self.page

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """`person("cps")` signs a demo user in, in their own browser context (tablet width unless told)."""
    people: list[Person] = []

    def sign_in(role: str, viewport: dict[str, int] | None = None) -> Person:
        found = Person(chromium, live_server, role, viewport or TABLET).sign_in()
        people.append(found)
        return found

    yield sign_in
    for found in people:
        assert not found.errors, found.errors
        found.close()
