"""Failed Messages, message detail, statistics and settings in headless Chromium, against a commlog
whose worker really delivered and failed the messages."""

from __future__ import annotations

import time
from typing import Any

import httpx

from .conftest import PHONE, screenshot, sign_in
from .scenario import add_user, seed
from .threaded_peer import ThreadedPeer


def _count(page: Any, card: str) -> str:
    return str(page.locator(f".cards .card.{card} .count").inner_text())


def test_failed_messages_bulk_retry_and_the_timeline(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer, browser: Any
) -> None:
    base, api = live
    seeded = seed(api, receiver)
    add_user(api, "ops", "admin")
    page = sign_in(browser, base, "ops")

    assert (_count(page, "total"), _count(page, "green"), _count(page, "red"), _count(page, "yellow")) == (
        "5",
        "3",
        "2",
        "0",
    )
    row = page.locator("tr", has_text=seeded.non_retryable[0][:0] + "ENDPOINT_GONE").first
    assert "no longer exists" in row.inner_text()
    assert "Remove or correct the destination." in row.inner_text()
    # Seed 003's navigation: Messaging → Failed Messages in the left sidebar, highlighted; Settings below.
    sidebar = page.locator("aside.sidebar")
    assert sidebar.is_visible() and page.locator("header.phone-top").is_hidden()
    box = sidebar.bounding_box()
    assert box is not None and box["x"] == 0 and box["height"] >= 800
    sections = page.locator("aside.sidebar .nav-section summary").all_inner_texts()
    assert [t.upper() for t in sections] == ["MESSAGING", "SETTINGS"]
    messaging = page.locator("aside.sidebar .nav-section", has_text="Messaging").locator("a").all_inner_texts()
    assert messaging == ["Communication log", "Failed Messages", "Statistics"]
    assert page.inner_text("aside.sidebar a[aria-current=page]") == "Failed Messages"
    screenshot(page, "failed-messages-desktop")
    with page.expect_navigation():
        page.click("aside.sidebar a:text('Retry policy')")
    assert page.url.endswith("/settings") and page.inner_text("aside.sidebar a[aria-current=page]") == "Retry policy"
    page.goto("/failed")

    page.select_option("select[name=category]", "RETRYABLE")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**category=RETRYABLE**")
    assert page.locator("table.failed tbody tr").count() == 3
    assert "The destination had a temporary problem" in page.inner_text("table.failed")

    receiver.answer("/down", 200, "back again")
    page.check("[data-select-all]")
    assert page.inner_text("[data-bulk]") == "Retry 3 selected"
    page.click("[data-bulk]")
    assert page.inner_text("h1") == "Retry 3 messages?"
    page.click("button.primary")
    assert page.inner_text("h1") == "3 messages retried"

    original = seeded.retryable[0]
    page.goto(f"/messages/{original}")
    deadline = time.monotonic() + 15
    while page.locator("ol.timeline li.tl-sent").count() == 0:
        assert time.monotonic() < deadline, page.inner_text("ol.timeline")
        time.sleep(0.2)
        page.reload()
    timeline = page.inner_text("ol.timeline")
    assert "Attempt 1" in timeline and "Resent by ops" in timeline
    assert page.locator("ol.timeline li.tl-failed").count() == 1
    assert "FAILED" in page.inner_text(".detail-head")
    screenshot(page, "message-detail-desktop")

    page.goto("/failed")
    assert (_count(page, "total"), _count(page, "green")) == ("2", "0")
    page.goto("/failed?status=RESENT")
    assert page.locator("table.failed tbody tr").count() == 3
    assert page.locator("table.failed >> text=Resent by hand").count() == 3

    page.set_viewport_size(PHONE)
    page.goto("/failed")
    display = page.eval_on_selector("table.failed tbody tr", "row => getComputedStyle(row).display")
    assert display == "block"
    screenshot(page, "failed-messages-phone")
    # On a phone the sidebar folds into the top strip's Menu (a <details>: no script needed).
    assert page.locator("aside.sidebar").is_hidden()
    assert page.locator(".menu-panel a:text('Failed Messages')").is_hidden()
    page.click("header.phone-top .menu summary")
    assert page.locator(".menu-panel a:text('Statistics')").is_visible()
    screenshot(page, "navigation-phone")
    with page.expect_navigation():
        page.click(".menu-panel a:text('Statistics')")
    assert page.url.endswith("/stats")
    assert page.locator(".menu-panel").is_hidden()  # a new page starts with the menu closed
    page.goto(f"/messages/{original}")
    screenshot(page, "message-detail-phone")
    page.context.close()


def test_an_agent_retries_one_message_but_sees_no_bulk_retry_and_no_settings(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer, browser: Any
) -> None:
    base, api = live
    seeded = seed(api, receiver)
    add_user(api, "agent1", "agent")
    page = sign_in(browser, base, "agent1")

    assert page.locator("[data-bulk]").count() == 0
    assert page.locator("[data-select-all]").count() == 0
    # Pages the role may not use are not in the navigation; an empty section is not shown at all.
    assert page.locator("aside.sidebar nav a").all_inner_texts() == [
        "Communication log",
        "Failed Messages",
        "Statistics",
    ]
    assert page.locator(".nav-section summary:text('Settings')").count() == 0
    response = page.goto("/settings")
    assert response is not None and response.status == 403
    assert "manage_settings" in page.inner_text(".notice")

    page.goto("/failed?category=RETRYABLE")
    receiver.answer("/down", 200)
    page.locator(f"button[name=only][value='{seeded.retryable[1]}']").click()
    page.wait_for_url(f"**/messages/{seeded.retryable[1]}?resent=*")
    assert "Resent as" in page.inner_text(".notice.ok")
    assert api.get(f"/api/messages/{seeded.retryable[1]}").json()["resentBy"] == "agent1"
    page.context.close()


def test_statistics_show_rates_reasons_and_days_as_charts_with_numbers(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer, browser: Any
) -> None:
    base, api = live
    seed(api, receiver)
    add_user(api, "ops", "admin")
    page = sign_in(browser, base, "ops")
    page.goto("/stats")
    assert page.locator("svg.chart").count() == 3
    reasons = page.locator("section:has(h2:text('Failures by reason')) svg").text_content() or ""
    assert "SERVER_ERROR" in reasons and "ENDPOINT_GONE" in reasons
    assert "3" in reasons and "2" in reasons
    page.click("main details summary")
    today = page.locator("#daily-table tbody tr").last.inner_text().split()
    assert today[1:] == ["4", "5", "0"]
    screenshot(page, "statistics-desktop")

    page.goto("/stats?from=2026-13-01")
    assert "'2026-13-01' is not a date" in page.inner_text(".notice")
    page.set_viewport_size(PHONE)
    page.goto("/stats")
    screenshot(page, "statistics-phone")
    page.context.close()


def test_settings_refuse_a_bad_retry_policy_field_by_field_and_save_a_good_one(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer, browser: Any
) -> None:
    base, api = live
    add_user(api, "ops", "admin")
    page = sign_in(browser, base, "ops")
    page.goto("/settings")
    page.fill("#maxRetries", "lots")
    page.fill("#backOffDelay", "10")
    page.fill("#backOffMaxDelay", "5")
    page.click("form.settings button[type=submit]")
    errors = page.inner_text(".notice.error")
    assert "maxRetries" in errors and "'lots' is not a whole number" in errors
    assert page.input_value("#maxRetries") == "lots"
    page.fill("#maxRetries", "3")
    page.click("form.settings button[type=submit]")
    assert "backOffMaxDelay: must be at least backOffDelay" in page.inner_text(".notice.error")
    assert api.get("/api/settings/retry-policy").json()["maxRetries"] == 4

    page.fill("#backOffMaxDelay", "120")
    page.uncheck("#sweepEnabled")
    page.click("form.settings button[type=submit]")
    assert "saved" in page.inner_text(".notice.ok")
    policy = api.get("/api/settings/retry-policy").json()
    assert (policy["maxRetries"], policy["backOffDelay"], policy["backOffMaxDelay"], policy["sweepEnabled"]) == (
        3,
        10,
        120,
        False,
    )
    assert "10, 30, 90 seconds" in page.inner_text("form.settings")
    screenshot(page, "settings-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "settings-phone")
    page.context.close()
