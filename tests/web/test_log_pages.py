"""The communication log's pages over plain HTTP: bad filters, columns, sorts, cursors and view
forms are answered on the page naming the field, nothing is stored from a refused form, and views
are kept for their owner unless shared."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx

from .scenario import PASSWORD, add_user, submit
from .threaded_peer import ThreadedPeer


def _signed_in(base: str, username: str) -> tuple[httpx.Client, str]:
    """A browser-like client signed in through the form, and the CSRF token the log page embeds."""
    client = httpx.Client(base_url=base, timeout=30)
    form = client.get("/auth/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    data = {"csrf_token": token.group(1), "username": username, "password": PASSWORD, "next": "/log"}
    assert client.post("/auth/sign-in", data=data).status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/log").text)
    assert csrf is not None
    return client, csrf.group(1)


def test_bad_log_input_is_named_on_the_page(live: tuple[str, httpx.Client]) -> None:
    _, api = live
    cases = {
        "/log?field=nope&op=EQUALS&value=x": "condition 1 field",
        "/log?field=state&op=STARTS_WITH&value=F": "condition 1 operator",
        "/log?field=state&op=EQUALS&value=LOST": "condition 1 value",
        "/log?field=creationDate&op=BETWEEN&value=2026-03-02": "condition 1 secondValue",
        "/log?field=type&op=IN&value=": "condition 1 values",
        "/log?col=colour": "col",
        "/log?col=state&pos_state=first": "pos_state",
        "/log?sort=sendDate": "sort",
        "/log?order=UP": "order",
        "/log?limit=7": "limit",
        "/log?cursor=garbage": "cursor",
        "/recipients/accounts/a1": "recipient",
        "/recipients/clients/c1?cursor=garbage": "cursor",
    }
    for path, field in cases.items():
        answer = api.get(path)
        assert answer.status_code in (400, 404), (path, answer.status_code)
        assert f"<strong>{field}</strong>" in answer.text, (path, answer.text[-2000:])
        assert "Traceback" not in answer.text


def test_views_need_csrf_a_name_and_belong_to_their_owner(
    live: tuple[str, httpx.Client], receiver: ThreadedPeer
) -> None:
    base, api = live
    submit(api, receiver.url("/ok"), "hello", event="DEPOSIT")
    add_user(api, "ops", "manager")
    add_user(api, "amy", "agent")
    ops, ops_csrf = _signed_in(base, "ops")
    amy, amy_csrf = _signed_in(base, "amy")
    try:
        view = urlencode([("field", "event"), ("op", "EQUALS"), ("value", "DEPOSIT"), ("col", "state")])
        assert ops.post("/log/views", data={"name": "Deposits", "query": view}).status_code == 403
        unnamed = ops.post("/log/views", data={"name": "  ", "query": view, "csrf_token": ops_csrf})
        assert unnamed.status_code == 422 and "<strong>name</strong>" in unnamed.text
        bad = urlencode([("field", "event"), ("op", "MORE_THAN"), ("value", "1")])
        refused = ops.post("/log/views", data={"name": "Bad", "query": bad, "csrf_token": ops_csrf})
        assert refused.status_code == 422 and "<strong>condition 1 operator</strong>" in refused.text
        assert 'data-view="' not in ops.get("/log").text

        private = ops.post("/log/views", data={"name": "Deposits", "query": view, "csrf_token": ops_csrf})
        assert private.status_code == 303 and "view=" in private.headers["location"]
        opened = ops.get(private.headers["location"])
        assert opened.status_code == 200 and "1 message matches" in opened.text
        assert 'data-view="Deposits"' in opened.text
        assert 'data-view="Deposits"' not in amy.get("/log").text

        shared = {"name": "Deposits", "query": view, "shared": "on", "csrf_token": ops_csrf}
        again = ops.post("/log/views", data=shared)
        assert again.headers["location"] == private.headers["location"]
        page = amy.get("/log").text
        assert 'data-view="Deposits"' in page
        view_id = private.headers["location"].rsplit("view=", 1)[1]
        forbidden = amy.post(f"/log/views/{view_id}/delete", data={"csrf_token": amy_csrf})
        assert forbidden.status_code == 403 and "<strong>view</strong>" in forbidden.text
        deleted = ops.post(f"/log/views/{view_id}/delete", data={"csrf_token": ops_csrf})
        assert deleted.status_code == 303
        assert 'data-view="Deposits"' not in amy.get("/log").text
    finally:
        ops.close()
        amy.close()
