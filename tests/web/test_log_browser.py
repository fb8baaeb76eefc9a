"""The communication log, custom views and a recipient's Communications tab in headless Chromium,
against a commlog whose worker really delivered and failed the messages."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import PHONE, screenshot, sign_in
from .scenario import add_user, seed
from .threaded_peer import ThreadedPeer


def _rows(page: Any) -> int:
    return int(page.locator("table.log tbody tr[data-key]").count())


def _headers(page: Any) -> list[str]:
    return [
        str(h)
        for h in page.eval_on_selector_all("table.log thead th[data-column]", "hs => hs.map(h => h.dataset.column)")
    ]


def _apply(page: Any) -> None:
    with page.expect_navigation():
        page.click("form.log-filters button.primary")


def test_filter_columns_views_recipient_and_phone_cards(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer, browser: Any
) -> None:
    base, api = live
    seeded = seed(api, receiver)
    add_user(api, "ops", "admin")
    add_user(api, "agent", "agent")
    page = sign_in(browser, base, "ops")

    page.goto("/")
    assert page.url.endswith("/log")
    assert _rows(page) == 9
    assert page.inner_text("#log-count") == "9 messages match"
    assert _headers(page) == ["created", "state", "type", "sender", "destination", "event", "sent", "recipient"]
    assert "commlog (automatic)" in page.inner_text("table.log tbody")
    screenshot(page, "communication-log-desktop")

    # Filter: one condition in the filter language, as Mambu v2 names it.
    page.select_option(".condition >> nth=0 >> select[name=field]", "state")
    page.select_option(".condition >> nth=0 >> select[name=op]", "EQUALS")
    page.fill(".condition >> nth=0 >> input[name=value]", "FAILED")
    _apply(page)
    assert _rows(page) == 5
    states = page.locator("table.log tbody td[data-column=state]").all_inner_texts()
    assert set(states) == {"FAILED"}
    export = page.get_attribute("[data-export-direct=xlsx]", "href") or ""
    assert "format=xlsx" in export and "field=state" in export and "value=FAILED" in export

    # A condition the field's type does not allow is refused on the page, naming the part.
    page.select_option(".condition >> nth=1 >> select[name=field]", "destination")
    page.select_option(".condition >> nth=1 >> select[name=op]", "IN")
    page.fill(".condition >> nth=1 >> input[name=value]", "x")
    _apply(page)
    alert = page.inner_text(".notice.error")
    assert "condition 2 operator" in alert and "IN is not available for DESTINATION" in alert
    assert _rows(page) == 0
    page.select_option(".condition >> nth=1 >> select[name=field]", "")

    # Columns: drop Event, add Message, put Destination first.
    page.click(".column-chooser summary")
    page.uncheck(".column-chooser input[value=event]")
    page.check(".column-chooser input[value=message]")
    page.fill(".column-chooser input[name=pos_destination]", "1")
    page.fill(".column-chooser input[name=pos_message]", "2")
    _apply(page)
    assert _headers(page)[:2] == ["destination", "message"]
    assert "event" not in _headers(page)
    assert _rows(page) == 5

    # Save it as a shared view; an empty name is refused on the page first.
    page.click(".save-view summary")
    with page.expect_navigation():
        page.click(".save-view button[type=submit]")
    assert "name: is required" in page.inner_text(".notice.error")
    page.fill("#view-name", "Failed webhooks")
    page.check(".save-view input[name=shared]")
    with page.expect_navigation():
        page.click(".save-view button[type=submit]")
    assert "view=" in page.url
    page.goto("/log")
    assert _rows(page) == 9
    with page.expect_navigation():
        page.click("nav.views a[data-view='Failed webhooks']")
    assert _rows(page) == 5
    assert _headers(page)[:2] == ["destination", "message"]
    assert "Failed webhooks" in page.inner_text("h1")

    # The agent sees the shared view, may not export, and may not delete ops's view.
    agent = sign_in(browser, base, "agent")
    agent.goto("/log")
    assert agent.locator("nav.views a[data-view='Failed webhooks']").count() == 1
    assert agent.locator("[data-export]").count() == 0
    agent.context.close()

    # A recipient's Communications tab, from a row's link; from there to one message's detail.
    page.goto("/log")
    with page.expect_navigation():
        page.click("table.log a:has-text('Client client-ada')")
    assert page.url.endswith("/recipients/clients/client-ada")
    assert _rows(page) == 2
    assert "Client client-ada" in page.inner_text("h1")
    screenshot(page, "recipient-desktop")
    with page.expect_navigation():
        page.click(f"tr[data-key='{seeded.long_key}'] >> text=Details")
    assert "THE END" in page.inner_text("#message-body")

    # A phone: every row is a labelled card.
    page.set_viewport_size(PHONE)
    page.goto("/log")
    display = page.eval_on_selector("table.log tbody tr", "row => getComputedStyle(row).display")
    assert display == "block"
    label = page.eval_on_selector(
        "table.log tbody td[data-column=state]", "td => getComputedStyle(td, '::before').content"
    )
    assert label == '"State"'
    screenshot(page, "communication-log-phone")
    page.goto("/recipients/clients/client-ada")
    screenshot(page, "recipient-phone")
    page.context.close()
