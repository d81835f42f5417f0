"""The dashboard served by uvicorn in a thread (``create_app(settings)``) and Debian's
headless chromium driven by Playwright's sync API. Screenshots go to test-artifacts/."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from dashboard.app import create_app
from keywatch.db import make_sessionmaker, transaction
from keywatch.settings import Settings
from tests.city import make_city

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # module scope: Playwright's sync API keeps an event loop running on the main
    # thread while open, which would break asyncio.run() in later test modules
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # expected 404s (an unknown plate) log "Failed to load resource"; server errors do not hide
    page.on("console", lambda msg: msg.type == "error"
            and not msg.text.startswith("Failed to load resource") and errors.append(msg.text))
    page.on("response", lambda r: r.status >= 500 and errors.append(f"{r.status} {r.url}"))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


@pytest.fixture
def city(clean_db, engine):  # type: ignore[no-untyped-def]
    """The test city with two muck trucks (one per company) and a school bus."""
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={"t-0001": "muck_truck", "t-0002": "muck_truck",
                                    "t-0003": "school_bus"})
    return engine


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
