"""Conformance with the four seeds: their examples verbatim, against a live API and a real worker.

Each test names the seed passage it proves; what other test files already prove is not repeated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState
from commlog.worker.worker import Worker

from .factories import children, stored_message, workspace_id
from .peers import HttpPeer, status
from .search_data import store
from .test_delivery import read

V2 = "/api/communications/messages"
V1 = "/api/notifications/messages"

#: Seed 000's search body, as the seed prints it (inside the array Mambu v2 documents).
SEED_000_SEARCH = """[{
    "field": "state",
    "operator": "EQUALS",
	"value": "FAILED"
}]"""


async def test_seed_000_search_failed_then_post_the_response_to_resend(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker
) -> None:
    """Seed 000: search failed messages, then place the response in the body of a POST to :resend."""
    await api_on_clock.put("/api/settings/retry-policy", json={"maxRetries": 0, "sweepEnabled": False})
    bodies = ['{"loan": "L1"}', '{"loan": "L2"}']
    failed = []
    for n, body in enumerate(bodies):
        peer.script(f"/down/{n}", status(503, "busy"), status(200, "ok"))
        answer = await api_on_clock.post(
            "/api/messages", json={"type": "WEB_HOOK", "destination": peer.url(f"/down/{n}"), "body": body}
        )
        failed.append(answer.json()["encodedKey"])
    await worker.run_once()
    sent = await api_on_clock.post(
        "/api/messages", json={"type": "WEB_HOOK", "destination": peer.url("/ok"), "body": "{}"}
    )
    await worker.run_once()
    assert [(await read(api_on_clock, k))["state"] for k in failed] == ["FAILED", "FAILED"]

    search = await api_on_clock.post(
        V2 + ":search", content=SEED_000_SEARCH, headers={"Content-Type": "application/json"}
    )
    assert search.status_code == 200, search.text
    found = search.json()
    assert sorted(m["encodedKey"] for m in found) == sorted(failed)
    assert sent.json()["encodedKey"] not in {m["encodedKey"] for m in found}

    resend = await api_on_clock.post(
        V2 + ":resend", content=search.content, headers={"Content-Type": "application/json"}
    )
    assert resend.status_code == 202, resend.text
    await worker.run_once()
    for key, body in zip(failed, bodies, strict=True):
        original = await read(api_on_clock, key)
        assert original["state"] == "FAILED", "the original entry is kept, not overwritten"
        [child] = (await api_on_clock.get(f"/api/messages/{key}/history")).json()["messages"][1:]
        new = await read(api_on_clock, child["encodedKey"])
        assert (new["state"], new["body"], new["parentKey"]) == ("SENT", body, key)
        assert new["sendDate"] is not None and new["sendDate"] != original["sendDate"]
    assert [r.body for r in peer.at("/down/0")] == [bodies[0], bodies[0]]
    # The seed prints the criterion without its array: as one JSON object it is one criterion.
    lone = SEED_000_SEARCH.strip()[1:-1]
    again = await api_on_clock.post(V2 + ":search", content=lone, headers={"Content-Type": "application/json"})
    assert sorted(m["encodedKey"] for m in again.json()) == sorted(failed), "originals keep FAILED"


async def test_seed_000_states_are_the_seeds_names(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 000's states: QUEUED, WAITING, SENDING_ASYNC (waiting to be sent), SENT, FAILED."""
    keys = {state: await store(engine, clock.now, state=state) for state in ("QUEUED", "WAITING", "SENDING_ASYNC")}
    keys["SENT"] = await store(engine, clock.now, state="SENT", send_date=clock.now)
    keys["FAILED"] = await store(engine, clock.now, state="FAILED")
    for state, key in keys.items():
        [found] = (
            await api.post(V2 + ":search", json=[{"field": "state", "operator": "EQUALS", "value": state}])
        ).json()
        assert (found["encodedKey"], found["state"]) == (key, state)
    waiting = [{"field": "state", "operator": "IN", "values": ["QUEUED", "WAITING", "SENDING_ASYNC"]}]
    assert len((await api.post(V2 + ":search", json=waiting)).json()) == 3
    pending = (await api.get(V1, params={"status": "pending"})).json()
    assert pending["total"] == 3


# Seed 001's resend examples, verbatim, with the seed's own encoded keys.
SEED_001_ONE = """{
   "action":"resend",
   "identifiers":[
      "8a80808a5317de22015317de5b94034c"
   ]
}"""
SEED_001_BULK = """{
   "action":"resend",
   "identifiers":[
      "8a80808a5317de22015317de5b94034c",
      "8a80806852f38c860152f38de0ad0019",
      "8a80806852f38c860152f38de0ad0023"
   ]
}"""


SEED_001_KEYS = [
    "8a80808a5317de22015317de5b94034c",
    "8a80806852f38c860152f38de0ad0019",
    "8a80806852f38c860152f38de0ad0023",
]


async def test_seed_001_resend_one_example_verbatim(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    ws = await workspace_id(engine, clock.now)
    for key in SEED_001_KEYS:
        await stored_message(engine, ws, clock.now, encoded_key=key)
    one = await api.post(V1, content=SEED_001_ONE, headers={"Content-Type": "application/json"})
    assert (one.status_code, one.json()) == (200, {"returnCode": 200, "returnStatus": "SUCCESS"})
    [resend] = await children(engine, SEED_001_KEYS[0])
    assert resend.state == MessageState.QUEUED.value
    assert [len(await children(engine, k)) for k in SEED_001_KEYS[1:]] == [0, 0]


async def test_seed_001_bulk_example_on_fresh_failures(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    ws = await workspace_id(engine, clock.now)
    keys = SEED_001_KEYS
    for key in keys:
        await stored_message(engine, ws, clock.now, encoded_key=key)
    answer = await api.post(V1, content=SEED_001_BULK, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()) == (200, {"returnCode": 200, "returnStatus": "SUCCESS"})
    assert [len(await children(engine, k)) for k in keys] == [1, 1, 1]


async def test_seed_001_constraint_parameters_data_item_type_and_native(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 001's parameters: dataItemType is optional for the searched entity, dataFieldType NATIVE."""
    key = await store(engine, clock.now, event="LOAN_CREATED")
    constraint = {
        "filterSelection": "EVENT",
        "filterElement": "EQUALS",
        "value": "LOAN_CREATED",
        "dataItemType": "NOTIFICATION_MESSAGE",
        "dataFieldType": "NATIVE",
    }
    answer = await api.post(V1 + "/search", json={"filterConstraints": [constraint]})
    assert answer.status_code == 200, answer.text
    assert [m["encodedKey"] for m in answer.json()] == [key]


# Seed 002.


async def test_seed_002_get_messages_example_verbatim(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 002's getMessages({product_tag: 'my-app', env: 'prd', start_date: 7 days ago, end_date: now,
    status: 'failed', page: 1, limit: 50}), its dates as JavaScript's toISOString writes them."""
    mine = await store(
        engine,
        clock.now - timedelta(days=2),
        product_tag="my-app",
        env="prd",
        notification_tag="rematch-notifications:order-placed",
        state="FAILED",
        failure_reason="TIMEOUT",
        failure_cause="no answer in 10 s",
        num_retries=4,
        input={"order": "O1"},
    )
    await store(engine, clock.now - timedelta(days=8), product_tag="my-app", env="prd", state="FAILED")
    await store(engine, clock.now - timedelta(days=1), product_tag="my-app", env="dev", state="FAILED")
    await store(engine, clock.now - timedelta(days=1), product_tag="my-app", env="prd", state="SENT")

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    options = {
        "product_tag": "my-app",
        "env": "prd",
        "start_date": iso(clock.now - timedelta(days=7)),
        "end_date": iso(clock.now),
        "status": "failed",
        "page": "1",
        "limit": "50",
    }
    answer = await api_on_clock.get(V1, params=options)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert {k: result[k] for k in ("total", "page", "limit", "hasMore")} == {
        "total": 1,
        "page": 1,
        "limit": 50,
        "hasMore": False,
    }
    [log] = result["items"]
    assert (log["_id"], log["notification_tag"], log["status"], log["type"]) == (
        mine,
        "rematch-notifications:order-placed",
        "failed",
        "callback",
    )
    assert log["created_at"] is not None and log["error"] == "no answer in 10 s"
    expected_keys = {"_id", "workspace_id", "product_id", "product_tag", "env", "notification_tag", "input"}
    expected_keys |= {"status", "type", "process_id", "error", "retries", "session", "cache", "created_at"}
    assert expected_keys | {"updated_at"} <= set(log)
    assert (log["input"], log["retries"]) == ({"order": "O1"}, 4)


async def test_seed_002_every_query_option_filters(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 002's options product_id, notification_tag, process_id and each type name."""
    keys = {
        "push": await store(engine, clock.now, type="PUSH", destination="device-token-1", product_id="p-1"),
        "sms": await store(engine, clock.now, type="SMS", destination="+4915112345678", process_id="proc-7"),
        "email": await store(
            engine, clock.now, type="EMAIL", destination="ann@example.com", notification_tag="rematch-notifications:x"
        ),
        "callback": await store(engine, clock.now, product_tag="ductape:rematch"),
    }
    cases = {
        "product_id=p-1": {"push"},
        "process_id=proc-7": {"sms"},
        "notification_tag=rematch-notifications:x": {"email"},
        "product_tag=ductape:rematch": {"callback"},
        "type=push": {"push"},
        "type=sms": {"sms"},
        "type=email": {"email"},
        "type=callback": {"callback"},
        "type=notification": set(),
    }
    for query, expected in cases.items():
        answer = await api.get(f"{V1}?{query}")
        assert answer.status_code == 200, (query, answer.text)
        assert {item["_id"] for item in answer.json()["items"]} == {keys[k] for k in expected}, query


# Seed 003.


async def test_seed_003_failed_page_layout_cards_filters_list(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 003's page layout: summary cards on top (total, retryable, non-retryable, business logic),
    the filter bar in the middle (age, error type, category, retry status), the list at the bottom."""
    for reason, category in (
        ("SERVER_ERROR", "RETRYABLE"),
        ("ENDPOINT_GONE", "NON_RETRYABLE"),
        ("DAILY_LIMIT_REACHED", "BUSINESS_LOGIC"),
    ):
        await store(engine, clock.now, state="FAILED", failure_reason=reason, failure_category=category)
    page = await api.get("/failed")
    assert page.status_code == 200, page.text
    html = page.text
    cards, filters, table = html.index('class="cards"'), html.index('class="filters"'), html.index("table class")
    assert cards < filters < table
    for colour, label in (("total", "Total failed"), ("green", "Retryable"), ("red", "Non-retryable")):
        assert f'class="card {colour}"' in html and label in html
    assert 'class="card yellow"' in html and "Business logic" in html
    for name in ("age", "reason", "category", "status"):
        assert f'name="{name}"' in html
    for label in ("Age", "Error type", "Category", "Retry status"):
        assert f"<label>{label} " in html
    counts = [
        html.split(f'class="card {c}"')[1].split("</span>")[0].rsplit(">", 1)[1]
        for c in ("total", "green", "red", "yellow")
    ]
    assert counts == ["3", "1", "1", "1"]
    assert 'href="/failed"' in html and 'href="/stats"' in html


async def test_seed_003_after_three_sweeps_a_retryable_message_is_marked_and_retried_by_hand(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 003: after 3 automatic retry attempts the system stops; you can still retry by hand."""
    ws = await workspace_id(engine, clock.now)
    exhausted = await stored_message(engine, ws, clock.now, num_sweeps=3)
    fresh = await stored_message(engine, ws, clock.now, num_sweeps=1)
    page = (await api.get("/failed", params={"status": "EXHAUSTED"})).text
    assert exhausted in page and fresh not in page
    assert "Automatic retries exhausted — retry by hand" in page
    assert f'name="only" value="{exhausted}"' in page
    assert (await api.post(f"/api/messages/{exhausted}:resend")).status_code == 202
    assert len(await children(engine, exhausted)) == 1


async def test_seed_000_message_contents_subject_and_sent_by(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 000: the log shows state, sender and date; automated notifications have the system as
    sender, a resend by hand its user; the more link shows the full contents and an email's subject."""
    body = "Dear Ada, " + "your schedule follows. " * 20 + "THE END"
    key = await store(
        engine,
        clock.now,
        type="EMAIL",
        destination="ada@example.com",
        subject="Repayment due",
        body=body,
        state="FAILED",
        failure_reason="SMTP_MAILBOX_UNAVAILABLE",
        failure_category="NON_RETRYABLE",
    )
    log = (await api.get("/log", params={"col": ["state", "sender", "created", "message"]})).text
    assert "commlog (automatic)" in log and "FAILED" in log
    assert f'href="/messages/{key}">more</a>' in log and "THE END" not in log
    detail = (await api.get(f"/messages/{key}")).text
    assert "<strong>Subject:</strong> Repayment due" in detail and "THE END" in detail
    assert f'value="{key}">Resend</button>' in detail
    assert "<dt>Sent by</dt><dd>commlog (automatic)</dd>" in detail
    user = await api.post(
        "/api/users", json={"username": "ada.ops", "password": "correct horse battery", "role": "agent"}
    )
    assert user.status_code == 201, user.text
    async with httpx.AsyncClient(base_url=api.base_url, auth=("ada.ops", "correct horse battery")) as agent:
        resend = await agent.post(f"/api/messages/{key}:resend")
    assert resend.status_code == 202, resend.text
    assert resend.json()["senderKey"] == "ada.ops"


async def test_seed_003_filter_bar_by_age_error_type_category_and_retry_status(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    """Seed 003's smart filters: narrow the failed messages by age, error type, category, retry status."""
    ws = await workspace_id(engine, clock.now)
    recent = await stored_message(engine, ws, clock.now - timedelta(hours=2))
    old = await stored_message(engine, ws, clock.now - timedelta(days=40), num_sweeps=3)
    gone = await store(
        engine,
        clock.now - timedelta(days=3),
        state="FAILED",
        failure_reason="ENDPOINT_GONE",
        failure_category="NON_RETRYABLE",
    )
    cases = {
        "age=1d": {recent},
        "age=7d": {recent, gone},
        "age=older": {old},
        "reason=ENDPOINT_GONE": {gone},
        "category=RETRYABLE": {recent, old},
        "category=NON_RETRYABLE": {gone},
        "status=SWEEP_PENDING": {recent},
        "status=EXHAUSTED": {old},
        "status=NOT_RETRYABLE": {gone},
    }
    for query, expected in cases.items():
        page = await api_on_clock.get(f"/failed?{query}")
        assert page.status_code == 200, (query, page.text)
        assert {k for k in (recent, old, gone) if f"/messages/{k}" in page.text} == expected, query
