"""Export with progress in headless Chromium: the log's Export to Excel button starts an export job,
the page shows its progress bar with rows of the total, the download starts by itself when the
workbook is done, and the file (opened with openpyxl) holds every row and the full text."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from commlog.api.app import create_app
from commlog.api.export_jobs import ExportJobs
from commlog.config import Settings
from commlog.domain.export import HEADERS, joined
from commlog.domain.states import MessageState
from commlog.store.database import create_engine
from commlog.store.messages import new_message_row
from commlog.store.tables import messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace

from ..conftest import ADMIN_API_KEY, LiveServer, _empty_tables
from .conftest import PHONE, in_thread, screenshot, sign_in
from .scenario import LONG_BODY, add_user

ROWS = 3_000
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = HEADERS.index("Encoded key")
BODY = HEADERS.index("Body")


async def _fill(url: str) -> None:
    """An empty log, then ROWS loan messages (the newest with a body longer than a cell) and 50 others."""
    engine = create_engine(url)
    await _empty_tables(engine)
    ws = (await ensure_workspace(engine, DEFAULT_WORKSPACE, T0)).id
    rows = []
    for n in range(ROWS + 50):
        body = LONG_BODY if n == ROWS - 1 else f'{{"loan": "L{n}"}}'
        row = new_message_row(ws, {"type": "WEB_HOOK", "destination": "https://example.com/h", "body": body}, T0)
        row.update(
            creation_date=T0 + timedelta(seconds=n),
            state=MessageState.SENT.value,
            next_attempt_at=None,
            event="LOAN_CREATED" if n < ROWS else "FEE",
        )
        rows.append(row)
    async with engine.begin() as conn:
        await conn.execute(messages.insert(), rows)
    await engine.dispose()


@pytest.fixture
def exporting(settings: Settings) -> Iterator[tuple[str, ExportJobs]]:
    """A commlog with ROWS + 50 messages, its exports written 200 rows a batch so that progress moves."""
    in_thread(_fill(settings.database_url))
    app = create_app(settings, run_worker=False)
    app.state.export_jobs = ExportJobs(batch=200)
    server = LiveServer(app)
    base = server.__enter__()
    try:
        yield base, app.state.export_jobs
    finally:
        server.__exit__()


def test_export_to_excel_shows_progress_and_downloads_the_full_log(
    exporting: tuple[str, ExportJobs], browser: Any
) -> None:
    base, jobs = exporting
    with httpx.Client(base_url=base, headers={"apiKey": ADMIN_API_KEY}, timeout=30) as api:
        add_user(api, "ops", "manager")
    page = sign_in(browser, base, "ops")
    page.goto("/log?field=event&op=EQUALS&value=LOAN_CREATED")
    assert "3,000 messages match" in page.inner_text("#log-count")

    with page.expect_download(timeout=60_000) as started:
        with page.expect_navigation():
            page.click("button[data-export=xlsx]")
        assert "/log/exports/" in page.url
        page.wait_for_selector("[data-export-progress] progress", state="visible")
        first = page.inner_text("[data-export-text]")
        assert "rows written" in first or "Counting" in first, first
    download = started.value
    assert download.suggested_filename.startswith("commlog-messages-")
    assert download.suggested_filename.endswith(".xlsx")
    page.wait_for_selector("[data-export-progress][data-state=DONE]")
    assert page.inner_text("[data-export-text]").startswith("3,000 of 3,000 rows written")
    bar = page.eval_on_selector("[data-export-progress] progress", "p => [p.value, p.max]")
    assert bar == [ROWS, ROWS]
    screenshot(page, "export-desktop")

    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True)["Messages"]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert tuple(header[: len(HEADERS)]) == HEADERS
    assert len(rows) == ROWS
    assert {row[HEADERS.index("Event")] for row in rows} == {"LOAN_CREATED"}
    assert joined(rows[0][BODY:]) == LONG_BODY  # the newest, its full text across cells
    assert rows[-1][BODY] == '{"loan": "L0"}'

    # Downloaded once, the job and its file are gone; the page says so if asked again.
    deadline = time.monotonic() + 10
    while len(jobs):
        assert time.monotonic() < deadline, "the job was not removed after its download"
        time.sleep(0.05)
    page.reload()
    assert "no such export of yours" in page.inner_text("main")

    # Without JavaScript the same button works: the page reloads itself until the file is offered.
    plain = page.context.browser.new_context(java_script_enabled=False, base_url=base, viewport=PHONE)
    no_js = plain.new_page()
    no_js.goto("/auth/sign-in?next=/log")
    no_js.fill("#username", "ops")
    no_js.fill("#password", "correct-horse-battery-staple")
    with no_js.expect_navigation():
        no_js.click("button[type=submit]")
    no_js.goto("/log?field=event&op=EQUALS&value=FEE")
    with no_js.expect_navigation():
        no_js.click("button[data-export=csv]")
    link = no_js.locator("a[data-export-download]")
    deadline = time.monotonic() + 20
    while not link.is_visible():
        assert time.monotonic() < deadline, "the file was never offered"
        no_js.wait_for_timeout(500)
    assert "50 of 50 rows written" in no_js.inner_text("[data-export-text]")
    screenshot(no_js, "export-phone")
    with no_js.expect_download() as fetched:
        link.click()
    content = Path(fetched.value.path()).read_bytes().decode("utf-8-sig")
    assert content.count("\r\n") == 51 and content.count(",FEE,") == 50
    plain.close()
    page.context.close()
