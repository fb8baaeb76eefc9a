"""The retry history of a message: its whole chain, every attempt and every resend, in order."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.worker.worker import Worker

from .factories import stored_message, workspace_id
from .peers import HttpPeer, status
from .test_delivery import submit
from .test_resend import ACTOR


async def test_history_shows_first_send_retries_sweep_and_resends_from_any_key_of_the_chain(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    policy = {"maxRetries": 1, "sweepIntervalSeconds": 3600, "sweepMaxAttempts": 1}
    assert (await api_on_clock.put("/api/settings/retry-policy", json=policy)).status_code == 200
    peer.script("/down", status(500, "boom"))
    original = await submit(api_on_clock, peer.url("/down"))
    await worker.run_once()  # first send fails
    clock.advance(2)
    await worker.run_once()  # the automatic retry fails: FAILED
    clock.advance(3600)
    await worker.run_once()  # the sweep puts it back in the queue
    await worker.run_once()  # and its attempt fails
    clock.advance(60)
    first = (await api_on_clock.post(f"/api/messages/{original}:resend")).json()["encodedKey"]
    await worker.run_once()
    clock.advance(2)
    await worker.run_once()
    peer.script("/down", status(200, "fine"))
    clock.advance(60)
    second = (await api_on_clock.post(f"/api/messages/{first}:resend")).json()["encodedKey"]
    await worker.run_once()

    histories = [(await api_on_clock.get(f"/api/messages/{key}/history")).json() for key in (original, first, second)]
    assert [h["encodedKey"] for h in histories] == [original, first, second]
    assert all(h["timeline"] == histories[0]["timeline"] for h in histories)
    history = histories[0]
    assert history["rootKey"] == original
    assert [(m["encodedKey"], m["parentKey"], m["origin"], m["state"]) for m in history["messages"]] == [
        (original, None, "FIRST_SEND", "FAILED"),
        (first, original, "MANUAL_RESEND", "FAILED"),
        (second, first, "MANUAL_RESEND", "SENT"),
    ]
    assert history["messages"][0]["resentBy"] == ACTOR
    lines = [(e["kind"], e["messageKey"], e["trigger"], e["triggeredBy"], e["outcome"]) for e in history["timeline"]]
    assert lines == [
        ("ATTEMPT", original, "FIRST_SEND", "SYSTEM", "FAILED"),
        ("ATTEMPT", original, "AUTOMATIC_RETRY", "SYSTEM", "FAILED"),
        ("ATTEMPT", original, "DAILY_SWEEP", "SYSTEM", "FAILED"),
        ("SENT_AGAIN", original, "MANUAL_RESEND", ACTOR, "CREATED"),
        ("ATTEMPT", first, "MANUAL_RESEND", ACTOR, "FAILED"),
        ("ATTEMPT", first, "AUTOMATIC_RETRY", "SYSTEM", "FAILED"),
        ("SENT_AGAIN", first, "MANUAL_RESEND", ACTOR, "CREATED"),
        ("ATTEMPT", second, "MANUAL_RESEND", ACTOR, "SENT"),
    ]
    attempts = [e["attempt"] for e in history["timeline"] if e["outcome"] == "FAILED"]
    details = {(a["failureReason"], a["failureCategory"], a["statusCode"], a["responseExcerpt"]) for a in attempts}
    assert details == {("SERVER_ERROR", "RETRYABLE", 500, "boom")}
    resends = [e for e in history["timeline"] if e["kind"] == "SENT_AGAIN"]
    assert [e["newMessageKey"] for e in resends] == [first, second]
    dates = [e["date"] for e in history["timeline"]]
    assert dates == sorted(dates)


async def test_history_of_a_bad_key(api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    elsewhere = await stored_message(engine, await workspace_id(engine, clock.now, "other"), clock.now)
    for key, code in (("nope", 422), ("b" * 32, 404), (elsewhere, 404)):
        response = await api.get(f"/api/messages/{key}/history")
        assert response.status_code == code, key
        assert response.json()["errors"][0]["field"] == "encodedKey"
