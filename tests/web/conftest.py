"""Fixtures for the dashboard's tests: a running commlog with its worker, a webhook receiver in a
thread, and one headless Chromium for the whole session (Debian's, never a downloaded one)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from commlog.api.app import create_app
from commlog.config import Settings
from commlog.store.database import create_engine

from ..conftest import ADMIN_API_KEY, LiveServer, _empty_tables
from .scenario import PASSWORD
from .threaded_peer import ThreadedPeer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def receiver() -> Iterator[ThreadedPeer]:
    with ThreadedPeer() as peer:
        yield peer


def in_thread(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on an event loop of its own thread: Playwright's synchronous API owns this one's."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(work)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


async def _empty(url: str) -> None:
    engine = create_engine(url)
    await _empty_tables(engine)
    await engine.dispose()


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, httpx.Client]]:
    """An empty commlog delivering with its worker: its address, and a synchronous admin client.

    The browser tests are synchronous (Playwright's sync API), so this fixture is too: it does not
    use the suite's asynchronous `engine`/`make_api` fixtures, whose event loop would clash.
    """
    in_thread(_empty(settings.database_url))
    server = LiveServer(create_app(settings, run_worker=True))
    base = server.__enter__()
    try:
        with httpx.Client(base_url=base, headers={"apiKey": ADMIN_API_KEY}, timeout=30) as client:
            yield base, client
    finally:
        server.__exit__()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for all the dashboard's tests; closed when they are done, so the event loop that
    Playwright runs in this thread is gone before any other package's asynchronous test."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def sign_in(browser: Any, base: str, username: str, viewport: dict[str, int] = DESKTOP) -> Any:
    """A new browser page signed in as `username` through the sign-in form."""
    context = browser.new_context(viewport=viewport, base_url=base, accept_downloads=True)
    page = context.new_page()
    page.goto("/auth/sign-in?next=/failed")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/failed")
    return page


def screenshot(page: Any, name: str) -> None:
    """Keep what the page looks like at its current width in docs/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
