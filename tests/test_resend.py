"""Resend and reprocess through the native API, with real delivery to a real HTTP peer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState
from commlog.worker.worker import Worker

from .factories import children, message_count, stored_message, workspace_id
from .peers import HttpPeer, status
from .test_delivery import read

#: Who the test clients are: the admin API key every test app starts with.
ACTOR = "key:admin"


async def failed_webhook(api: httpx.AsyncClient, worker: Worker, destination: str, **extra: Any) -> str:
    """Submit a webhook and let the worker fail it for good (the policy allows no retries)."""
    await api.put("/api/settings/retry-policy", json={"maxRetries": 0, "sweepEnabled": False})
    response = await api.post("/api/messages", json={"type": "WEB_HOOK", "destination": destination, **extra})
    assert response.status_code == 202, response.text
    key = str(response.json()["encodedKey"])
    await worker.run_once()
    assert (await read(api, key))["state"] == "FAILED"
    return key


async def test_resend_is_a_new_message_with_the_same_content_and_the_original_stays_failed(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    peer.script("/flaky", status(503, "down for maintenance"), status(200, "thanks"))
    body = '{"event": "LOAN_CREATED", "loan": "L1"}'
    original = await failed_webhook(api_on_clock, worker, peer.url("/flaky"), body=body)
    clock.advance(60)

    response = await api_on_clock.post(f"/api/messages/{original}:resend")
    assert response.status_code == 202, response.text
    resend = response.json()
    assert resend["parentKey"] == original
    assert resend["state"] == "QUEUED"
    assert resend["body"] == body
    assert resend["senderKey"] == ACTOR
    assert resend["encodedKey"] != original

    await worker.run_once()
    assert (await read(api_on_clock, resend["encodedKey"]))["state"] == "SENT"
    assert [r.body for r in peer.received] == [body, body]
    before = await read(api_on_clock, original)
    assert before["state"] == "FAILED"
    assert before["resentBy"] == ACTOR
    assert before["resentDate"] is not None
    assert [a["outcome"] for a in before["attempts"]] == ["FAILED"]

    history = (await api_on_clock.get(f"/api/messages/{resend['encodedKey']}/history")).json()
    assert [
        (e["kind"], e["messageKey"], e["trigger"], e["triggeredBy"], e["outcome"]) for e in history["timeline"]
    ] == [
        ("ATTEMPT", original, "FIRST_SEND", "SYSTEM", "FAILED"),
        ("SENT_AGAIN", original, "MANUAL_RESEND", ACTOR, "CREATED"),
        ("ATTEMPT", resend["encodedKey"], "MANUAL_RESEND", ACTOR, "SENT"),
    ]
    assert history["timeline"][0]["attempt"]["responseExcerpt"] == "down for maintenance"

    clock.advance(1)
    stats = (await api_on_clock.get("/api/stats/retries")).json()
    assert stats["recovery"]["failedAtLeastOnce"] == 1
    assert stats["recovery"]["sentByManualRetry"] == 1
    assert stats["manualRetries"] == {"attempts": 1, "sent": 1, "successRate": 1.0}


async def test_a_failed_resend_is_resent_in_turn_and_the_original_only_once(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker
) -> None:
    peer.script("/down", status(500))
    original = await failed_webhook(api_on_clock, worker, peer.url("/down"), body="x")
    first = (await api_on_clock.post(f"/api/messages/{original}:resend")).json()["encodedKey"]
    await worker.run_once()
    assert (await read(api_on_clock, first))["state"] == "FAILED"

    again = await api_on_clock.post(f"/api/messages/{original}:resend")
    assert again.status_code == 409
    [error] = again.json()["errors"]
    assert error["code"] == "ALREADY_RESENT"
    assert original in error["message"] and f"resend {first!r} instead" in error["message"]

    second = await api_on_clock.post(f"/api/messages/{first}:resend")
    assert second.status_code == 202
    assert second.json()["parentKey"] == first
    history = (await api_on_clock.get(f"/api/messages/{original}/history")).json()
    assert [m["encodedKey"] for m in history["messages"]] == [original, first, second.json()["encodedKey"]]
    assert history["rootKey"] == original


async def test_concurrent_resends_of_one_message_make_one_new_message(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    original = await stored_message(engine, await workspace_id(engine, clock.now), clock.now)
    answers = await asyncio.gather(*(api_on_clock.post(f"/api/messages/{original}:resend") for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [202] + [409] * 7
    for refused in (r for r in answers if r.status_code == 409):
        assert refused.json()["errors"][0]["field"] == "encodedKey"
        assert original in refused.json()["errors"][0]["message"]
    assert len(await children(engine, original)) == 1


async def test_idempotency_key_makes_a_repeat_a_no_op_even_when_concurrent(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    ws = await workspace_id(engine, clock.now)
    keys = [await stored_message(engine, ws, clock.now) for _ in range(3)]
    body = {"encodedKeys": keys}
    headers = {"Idempotency-Key": "retry-batch-7"}
    answers = await asyncio.gather(
        *(api_on_clock.post("/api/messages:resend", json=body, headers=headers) for _ in range(4))
    )
    assert {r.status_code for r in answers} == {202}
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 3
    assert [r["originalKey"] for r in answers[0].json()["resent"]] == keys
    for key in keys:
        assert len(await children(engine, key)) == 1

    other = await api_on_clock.post("/api/messages:resend", json={"encodedKeys": keys[:1]}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


_KEY = "0" * 32

#: Bad bodies for POST /api/messages:resend: (case, body, status, field, words in the message).
#: One server answers them all: starting one per case would make the suite slow for nothing.
BAD_BODIES: list[tuple[str, Any, int, str, str]] = [
    ("empty", {"encodedKeys": []}, 422, "encodedKeys", "at least one"),
    ("over 1000", {"encodedKeys": [f"{i:032x}" for i in range(1001)]}, 422, "encodedKeys", "at most 1000"),
    ("duplicates", {"encodedKeys": [_KEY, _KEY]}, 422, "encodedKeys[1]", "duplicate of encodedKeys[0]"),
    ("malformed", {"encodedKeys": ["not-a-key"]}, 422, "encodedKeys[0]", "not an encoded key"),
    ("uppercase", {"encodedKeys": ["ABCDEF" + _KEY[6:]]}, 422, "encodedKeys[0]", "not an encoded key"),
    ("not a list", {"encodedKeys": "abc"}, 422, "encodedKeys", "valid list"),
    ("nothing named", {}, 422, "body", "exactly one"),
    ("unknown field", {"encodedKeys": [_KEY], "colour": "red"}, 422, "colour", "not a known field"),
]


async def test_bad_resend_requests_name_the_field_and_resend_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    failed = await stored_message(engine, await workspace_id(engine, clock.now), clock.now)
    before = await message_count(engine)
    for case, body, code, field, words in BAD_BODIES:
        response = await api.post("/api/messages:resend", json=body)
        assert response.status_code == code, (case, response.text)
        errors = response.json()["errors"]
        assert any(e["field"] == field and words in e["message"] for e in errors), (case, response.text)
    assert await message_count(engine) == before
    assert await children(engine, failed) == []


async def test_one_unresendable_key_refuses_the_whole_request(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    ws = await workspace_id(engine, clock.now)
    good = [await stored_message(engine, ws, clock.now) for _ in range(2)]
    bad = {
        "is SENT; only FAILED messages can be resent": await stored_message(engine, ws, clock.now, MessageState.SENT),
        "is QUEUED; only FAILED": await stored_message(engine, ws, clock.now, MessageState.QUEUED),
        "is WAITING; only FAILED": await stored_message(engine, ws, clock.now, MessageState.WAITING),
        "no message with encoded key": "f" * 32,
        "no message with encoded key ": await stored_message(
            engine, await workspace_id(engine, clock.now, "other"), clock.now
        ),
    }
    for words, key in bad.items():
        response = await api.post("/api/messages:resend", json={"encodedKeys": [good[0], key, good[1]]})
        assert response.status_code == (404 if "no message" in words else 409), response.text
        [error] = response.json()["errors"]
        assert error["field"] == "encodedKeys[1]"
        assert key in error["message"] and words.strip() in error["message"]
    for key in [*good, *bad.values()]:
        assert await children(engine, key) == []
        assert (await api.get(f"/api/messages/{key}")).json().get("resentDate") is None


async def test_malformed_or_unknown_key_in_the_path(api: httpx.AsyncClient) -> None:
    for action in ("resend", "reprocess"):
        malformed = await api.post(f"/api/messages/nope:{action}")
        assert malformed.status_code == 422
        assert malformed.json()["errors"][0]["field"] == "encodedKey"
        unknown = await api.post(f"/api/messages/{'a' * 32}:{action}")
        assert unknown.status_code == 404
        assert "a" * 32 in unknown.json()["errors"][0]["message"]


async def test_reprocess_renders_afresh_from_the_stored_input(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker
) -> None:
    peer.script("/loans/L7", status(200, "ok"))
    stored_input = {
        "destination": peer.url("/loans/{{loan.id}}"),
        "body": {"loan": "{{loan.id}}", "client": "{{client.name}}"},
        "headers": {"X-Loan": "{{loan.id}}"},
        "data": {"loan": {"id": "L7"}, "client": {"name": "Ada"}},
    }
    peer.script("/old", status(500))
    original = await failed_webhook(
        api_on_clock, worker, peer.url("/old"), body="stale", input=stored_input, productTag="app", env="prd"
    )
    response = await api_on_clock.post(f"/api/messages/{original}:reprocess")
    assert response.status_code == 202, response.text
    new = response.json()
    assert (new["destination"], new["body"]) == (peer.url("/loans/L7"), '{"loan":"L7","client":"Ada"}')
    assert (new["parentKey"], new["productTag"], new["env"], new["input"]) == (original, "app", "prd", stored_input)
    await worker.run_once()
    [delivered] = peer.at("/loans/L7")
    assert delivered.body == '{"loan":"L7","client":"Ada"}'
    assert delivered.headers["x-loan"] == "L7"
    history = (await api_on_clock.get(f"/api/messages/{original}/history")).json()
    assert [e["trigger"] for e in history["timeline"]] == ["FIRST_SEND", "REPROCESS", "REPROCESS"]


#: Messages that cannot be reprocessed: (stored input, state, status, words in the message).
UNREPROCESSABLE: list[tuple[Any, MessageState, int, str]] = [
    (None, MessageState.FAILED, 422, "no stored input"),
    ({"destination": "https://example.com", "body": "Hi {{name}}"}, MessageState.FAILED, 422, "{{name}}"),
    ({"body": "x"}, MessageState.FAILED, 422, "input.destination"),
    ({"destination": "https://example.com", "body": "x"}, MessageState.QUEUED, 409, "once it is SENT or FAILED"),
]


async def test_reprocess_refusals_write_nothing(api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    ws = await workspace_id(engine, clock.now)
    for stored_input, state, code, words in UNREPROCESSABLE:
        key = await stored_message(engine, ws, clock.now, state, input=stored_input)
        response = await api.post(f"/api/messages/{key}:reprocess")
        assert response.status_code == code, response.text
        assert words in response.json()["errors"][0]["message"]
        assert await children(engine, key) == []
        assert (await api.get(f"/api/messages/{key}")).json()["resentDate"] is None


async def test_a_sent_message_can_be_reprocessed_but_not_resent(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    stored_input = {"destination": "https://example.com/{{x}}", "body": "{{x}}", "data": {"x": "y"}}
    key = await stored_message(
        engine, await workspace_id(engine, clock.now), clock.now, MessageState.SENT, input=stored_input
    )
    assert (await api.post(f"/api/messages/{key}:resend")).status_code == 409
    reprocessed = await api.post(f"/api/messages/{key}:reprocess")
    assert reprocessed.status_code == 202
    assert reprocessed.json()["destination"] == "https://example.com/y"


async def test_an_agent_may_resend_one_message_but_not_many(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    agent = (await api.post("/api/keys", json={"name": "desk", "role": "agent"})).json()["key"]
    ws = await workspace_id(engine, clock.now)
    keys = [await stored_message(engine, ws, clock.now) for _ in range(2)]
    bulk = await api.post("/api/messages:resend", json={"encodedKeys": keys}, headers={"apiKey": agent})
    assert bulk.status_code == 403
    assert "resend_failed_messages_in_bulk" in bulk.json()["errors"][0]["message"]
    one = await api.post(f"/api/messages/{keys[0]}:resend", headers={"apiKey": agent})
    assert one.status_code == 202
    assert one.json()["senderKey"] == "key:desk"
    assert [len(await children(engine, key)) for key in keys] == [1, 0]
