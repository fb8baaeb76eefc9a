"""The dashboard's pages over plain HTTP: who gets in, and how bad input is answered (a page naming
the field, never a stack trace, and nothing changed)."""

from __future__ import annotations

import re

import httpx

from .scenario import PASSWORD, add_user, seed
from .threaded_peer import ThreadedPeer


def _signed_in(base: str, username: str) -> tuple[httpx.Client, str]:
    """A browser-like client with a session cookie, and the session's CSRF token."""
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/auth/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    answer = client.post(
        "/auth/sign-in",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD, "next": "/settings"},
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/settings").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    return client, csrf.group(1)


def test_pages_send_strangers_to_sign_in_and_come_back(live: tuple[str, httpx.Client]) -> None:
    base, _ = live
    with httpx.Client(base_url=base) as stranger:
        for path in ("/failed?age=7d", "/stats", "/settings", "/messages/" + "a" * 32, "/log", "/recipients/users/u"):
            answer = stranger.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/auth/sign-in?next=%2F")
        assert stranger.get("/").headers["location"] == "/log"
        assert "text/css" in stranger.get("/static/app.css").headers["content-type"]


def test_bad_input_is_answered_on_the_page_naming_the_field(live: tuple[str, httpx.Client]) -> None:
    _, api = live
    cases = {
        "/failed?age=forever": "age",
        "/failed?category=BLUE": "category",
        "/failed?reason=NOPE": "reason",
        "/failed?status=MAYBE": "status",
        "/failed?after=yesterday": "after",
        "/stats?from=2026-03-10&to=2026-03-01": "from",
        "/stats?from=2020-01-01&to=2026-01-01": "to",
        "/messages/not-a-key": "message",
        "/messages/" + "0" * 32: "message",
    }
    for path, field in cases.items():
        answer = api.get(path)
        assert answer.status_code in (400, 404), (path, answer.status_code)
        assert "text/html" in answer.headers["content-type"]
        assert f"<strong>{field}</strong>" in answer.text, (path, answer.text)
        assert "Traceback" not in answer.text


def test_retry_forms_check_their_keys_and_refuse_all_when_one_cannot_be_retried(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer
) -> None:
    _, api = live
    seeded = seed(api, receiver)
    for data, field in (({}, "key"), ({"key": "zzz"}, "key"), ({"key": [f"{n:032x}" for n in range(501)]}, "key")):
        answer = api.post("/failed/retry", data=data)
        assert answer.status_code == 400
        assert f"<strong>{field}</strong>" in answer.text
    answer = api.post("/failed/retry", data={"key": [seeded.retryable[0], seeded.sent[0]], "confirmed": "yes"})
    assert answer.status_code == 409
    assert "Nothing was retried" in answer.text and seeded.sent[0] in answer.text
    assert api.get(f"/api/messages/{seeded.retryable[0]}").json()["resentDate"] is None
    answer = api.post("/failed/retry", data={"key": seeded.retryable[:2]})
    assert answer.status_code == 200 and "Retry 2 messages?" in answer.text
    assert api.get(f"/api/messages/{seeded.retryable[0]}").json()["resentDate"] is None


def test_session_forms_need_the_csrf_token_and_settings_are_unchanged_without_it(
    live: tuple[str, httpx.Client],
) -> None:
    base, api = live
    add_user(api, "ops", "admin")
    browser, csrf = _signed_in(base, "ops")
    try:
        good = {"maxRetries": "2", "backOffDelay": "1", "delayFactor": "2", "backOffMaxDelay": "10"}
        good |= {"sweepIntervalSeconds": "3600", "sweepMaxAttempts": "1"}
        refused = browser.post("/settings/retry-policy", data=good)
        assert refused.status_code == 403
        assert api.get("/api/settings/retry-policy").json()["maxRetries"] == 4
        saved = browser.post("/settings/retry-policy", data={**good, "csrf_token": csrf})
        assert saved.status_code == 303 and saved.headers["location"] == "/settings?saved=1"
        policy = api.get("/api/settings/retry-policy").json()
        assert (policy["maxRetries"], policy["sweepEnabled"], policy["sweepIntervalSeconds"]) == (2, False, 3600)
        blank = browser.post("/settings/retry-policy", data={**good, "backOffDelay": "", "csrf_token": csrf})
        assert blank.status_code == 422 and "backOffDelay" in blank.text and "is required" in blank.text
        assert api.get("/api/settings/retry-policy").json()["backOffDelay"] == 1
    finally:
        browser.close()
