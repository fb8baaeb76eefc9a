"""The worker delivers webhooks to real HTTP peers and follows the retry policy on a fake clock."""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from commlog.channels.registry import build_channels
from commlog.config import Settings
from commlog.domain.clock import FakeClock
from commlog.store.messages import get_attempts, get_message
from commlog.store.tables import events
from commlog.worker.worker import Worker

from .peers import HttpPeer, hang, status


async def submit(api: httpx.AsyncClient, destination: str, body: str = '{"event": "LOAN_CREATED"}') -> str:
    response = await api.post("/api/messages", json={"type": "WEB_HOOK", "destination": destination, "body": body})
    assert response.status_code == 202, response.text
    return str(response.json()["encodedKey"])


async def read(api: httpx.AsyncClient, key: str) -> dict[str, Any]:
    return dict((await api.get(f"/api/messages/{key}")).json())


async def test_delivers_a_signed_webhook_and_records_the_attempt(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    key = await submit(api_on_clock, peer.url(), body='{"loan": "L1"}')
    clock.advance(0.5)
    assert await worker.run_once() == 1

    [request] = peer.received
    assert request.body == '{"loan": "L1"}'
    assert request.headers["webhook-id"] == f"msg_{key}"
    secret = (await api_on_clock.get("/api/settings/webhooks")).json()["signingSecret"]
    # Any Standard Webhooks verifier accepts it (the verifier checks the timestamp against real time).
    lowered = {k.lower(): v for k, v in request.headers.items()}
    signer = Webhook(secret)
    assert signer.sign(lowered["webhook-id"], clock.now, request.body) == lowered["webhook-signature"]
    assert lowered["webhook-timestamp"] == str(int(clock.now.timestamp()))

    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    assert message["sendDate"] is not None
    assert message["nextAttemptDate"] is None
    [attempt] = message["attempts"]
    assert attempt["outcome"] == "SENT"
    assert attempt["statusCode"] == 200
    assert attempt["trigger"] == "FIRST_SEND"
    assert attempt["responseExcerpt"] == "ok"
    assert attempt["durationMs"] >= 0


async def test_signature_verifies_with_a_standard_verifier_in_real_time(
    make_api: Any, peer: HttpPeer, engine: AsyncEngine, settings: Settings
) -> None:
    async with make_api() as api:
        await submit(api, peer.url())
        secret = (await api.get("/api/settings/webhooks")).json()["signingSecret"]
    channels = build_channels(settings)
    await Worker(engine, channels, settings).run_once()
    await channels["WEB_HOOK"].close()
    [request] = peer.received
    assert Webhook(secret).verify(request.body, request.headers) == {"event": "LOAN_CREATED"}


async def test_retries_after_2_6_18_54_seconds_then_fails(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    peer.script("/down", status(500, "boom"))
    key = await submit(api_on_clock, peer.url("/down"))
    waits = []
    for _ in range(5):
        assert await worker.run_once() == 1
        message = await read(api_on_clock, key)
        if message["state"] == "FAILED":
            break
        assert message["state"] == "WAITING"
        assert message["waitingReason"] == "READY_TO_BE_SENT"
        wait = (datetime.fromisoformat(message["nextAttemptDate"]) - clock.now).total_seconds()
        waits.append(round(wait, 3))
        clock.advance(wait - 0.01)
        assert await worker.run_once() == 0, "not due before its time"
        clock.advance(0.01)
    assert waits == [2, 6, 18, 54]
    assert message["state"] == "FAILED"
    assert message["numRetries"] == 4
    assert message["failureReason"] == "SERVER_ERROR"
    assert message["failureCategory"] == "RETRYABLE"
    assert message["failureCause"] == "HTTP 500"
    assert [a["trigger"] for a in message["attempts"]] == ["FIRST_SEND"] + ["AUTOMATIC_RETRY"] * 4
    assert [a["triggeredBy"] for a in message["attempts"]] == ["SYSTEM"] * 5
    assert len(peer.received) == 5
    assert len({r.headers["webhook-id"] for r in peer.received}) == 1, "webhook-id is stable across retries"
    assert await worker.run_once() == 0


async def test_retry_policy_is_configurable(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    response = await api_on_clock.put(
        "/api/settings/retry-policy", json={"maxRetries": 1, "backOffDelay": 10, "delayFactor": 2}
    )
    assert response.status_code == 200, response.text
    assert response.json()["maxRetries"] == 1
    assert response.json()["backOffMaxDelay"] == 300
    peer.script("/down", status(503))
    key = await submit(api_on_clock, peer.url("/down"))
    await worker.run_once()
    first = await read(api_on_clock, key)
    assert first["state"] == "WAITING"
    assert (datetime.fromisoformat(first["nextAttemptDate"]) - clock.now).total_seconds() == 10
    clock.advance(10)
    await worker.run_once()
    assert (await read(api_on_clock, key))["state"] == "FAILED"


async def test_a_later_success_ends_the_retries(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    peer.script("/flaky", status(502), status(200, "fine"))
    key = await submit(api_on_clock, peer.url("/flaky"))
    await worker.run_once()
    clock.advance(2)
    await worker.run_once()
    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    assert message["numRetries"] == 1
    assert [a["outcome"] for a in message["attempts"]] == ["FAILED", "SENT"]
    assert message["attempts"][0]["statusCode"] == 502


@pytest.mark.parametrize(
    ("reply", "state", "reason", "category", "wait"),
    [
        (status(503, headers={"Retry-After": "120"}), "WAITING", "SERVER_ERROR", "RETRYABLE", 120),
        (status(429, headers={"Retry-After": "30"}), "WAITING", "RATE_LIMITED", "RETRYABLE", 30),
        (status(429), "WAITING", "RATE_LIMITED", "RETRYABLE", 2),
        (status(408), "WAITING", "REQUEST_TIMEOUT", "RETRYABLE", 2),
        (status(410), "FAILED", "ENDPOINT_GONE", "NON_RETRYABLE", None),
        (status(404), "FAILED", "INVALID_HTTP_RESPONSE", "NON_RETRYABLE", None),
        (status(400, "bad payload"), "FAILED", "INVALID_HTTP_RESPONSE", "NON_RETRYABLE", None),
        (status(301, headers={"Location": "/elsewhere"}), "FAILED", "INVALID_HTTP_RESPONSE", "NON_RETRYABLE", None),
        (hang(5), "WAITING", "TIMEOUT", "RETRYABLE", 2),
    ],
)
async def test_each_http_outcome_is_classified(
    api_on_clock: httpx.AsyncClient,
    peer: HttpPeer,
    worker: Worker,
    clock: FakeClock,
    reply: Any,
    state: str,
    reason: str,
    category: str,
    wait: float | None,
) -> None:
    peer.script("/x", reply)
    key = await submit(api_on_clock, peer.url("/x"))
    await worker.run_once()
    message = await read(api_on_clock, key)
    assert (message["state"], message["failureReason"], message["failureCategory"]) == (state, reason, category)
    assert message["attempts"][0]["failureReason"] == reason
    if wait is None:
        assert message["nextAttemptDate"] is None
    else:
        assert (datetime.fromisoformat(message["nextAttemptDate"]) - clock.now).total_seconds() == wait


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_connection_and_dns_failure_are_retryable(
    api_on_clock: httpx.AsyncClient, worker: Worker
) -> None:
    refused = await submit(api_on_clock, f"http://127.0.0.1:{free_port()}/hook")
    unknown = await submit(api_on_clock, "http://no-such-host.invalid/hook")
    await worker.run_once()
    assert (await read(api_on_clock, refused))["failureReason"] == "CONNECTION_REFUSED"
    assert (await read(api_on_clock, unknown))["failureReason"] == "DNS_FAILURE"
    for key in (refused, unknown):
        assert (await read(api_on_clock, key))["state"] == "WAITING"


async def test_daily_sweep_retries_failed_retryable_messages_at_most_three_times(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock, engine: AsyncEngine
) -> None:
    await api_on_clock.put("/api/settings/retry-policy", json={"maxRetries": 0})
    peer.script("/down", status(500))
    peer.script("/gone", status(410))
    retryable = await submit(api_on_clock, peer.url("/down"))
    permanent = await submit(api_on_clock, peer.url("/gone"))
    await worker.run_once()
    assert (await read(api_on_clock, retryable))["state"] == "FAILED"
    for sweep in range(1, 5):
        clock.advance(86400)
        await worker.run_once()  # sweeps, then the swept message is due in the same pass or the next
        await worker.run_once()
        message = await read(api_on_clock, retryable)
        assert message["state"] == "FAILED"
        assert message["numSweeps"] == min(sweep, 3)
    triggers = [a["trigger"] for a in (await read(api_on_clock, retryable))["attempts"]]
    assert triggers == ["FIRST_SEND", "DAILY_SWEEP", "DAILY_SWEEP", "DAILY_SWEEP"]
    assert len((await read(api_on_clock, permanent))["attempts"]) == 1
    async with engine.connect() as conn:
        row = await get_message(conn, (await read(api_on_clock, retryable))["workspaceId"], retryable)
        assert row is not None and row.num_sweeps == 3
        assert len(await get_attempts(conn, retryable)) == 4


async def test_sweep_waits_for_the_recommended_wait(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock
) -> None:
    await api_on_clock.put("/api/settings/retry-policy", json={"maxRetries": 0, "sweepIntervalSeconds": 3600})
    peer.script("/slow", status(429, headers={"Retry-After": "7200"}))
    key = await submit(api_on_clock, peer.url("/slow"))
    await worker.run_once()
    assert (await read(api_on_clock, key))["state"] == "FAILED"
    clock.advance(3600)
    await worker.run_once()
    assert len((await read(api_on_clock, key))["attempts"]) == 1, "the provider asked for two hours"
    clock.advance(3600)
    await worker.run_once()
    await worker.run_once()
    assert len((await read(api_on_clock, key))["attempts"]) == 2


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"maxRetries": -2}, "maxRetries"),
        ({"backOffDelay": 0}, "backOffDelay"),
        ({"delayFactor": 0.5}, "delayFactor"),
        ({"backOffDelay": 10, "backOffMaxDelay": 5}, "backOffMaxDelay"),
        ({"maxRetries": "many"}, "maxRetries"),
        ({"sweepIntervalSeconds": 1}, "sweepIntervalSeconds"),
        ({"retries": 3}, "retries"),
    ],
)
async def test_bad_retry_policy_is_refused_and_nothing_changes(
    api: httpx.AsyncClient, policy: dict[str, Any], field: str
) -> None:
    before = (await api.get("/api/settings/retry-policy")).json()
    response = await api.put("/api/settings/retry-policy", json=policy)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}
    assert (await api.get("/api/settings/retry-policy")).json() == before


async def test_signing_secret_can_be_set_and_is_validated(api: httpx.AsyncClient) -> None:
    secret = "whsec_" + "QUJD" * 8
    assert (await api.put("/api/settings/webhooks", json={"signingSecret": secret})).status_code == 200
    assert (await api.get("/api/settings/webhooks")).json() == {"signingSecret": secret}
    for bad in ("QUJD" * 8, "whsec_not*base64", "whsec_QUJD"):
        response = await api.put("/api/settings/webhooks", json={"signingSecret": bad})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "signingSecret"
    assert (await api.get("/api/settings/webhooks")).json() == {"signingSecret": secret}


async def test_each_attempt_tells_the_stream_what_happened_in_the_same_words_on_every_database(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock, engine: AsyncEngine
) -> None:
    peer.script("/down", status(503, "later"))
    key = await submit(api_on_clock, peer.url("/down"))
    clock.advance(0.5)
    assert await worker.run_once() == 1
    async with engine.connect() as conn:
        found = await conn.execute(
            select(events.c.kind, events.c.payload, events.c.message_type)
            .where(events.c.message_key == key, events.c.kind != "message.created")
            .order_by(events.c.id)
        )
        made, changed = found.all()
    message = await read(api_on_clock, key)
    assert made.kind == "attempt.made" and made.message_type == "WEB_HOOK"
    assert made.payload.pop("durationMs") >= 0
    assert made.payload == {
        "number": 1,
        "trigger": "FIRST_SEND",
        "sent": False,
        "statusCode": 503,
        "failureReason": "SERVER_ERROR",
        "failureCategory": "RETRYABLE",
    }
    assert changed.kind == "state.changed"
    next_attempt = changed.payload.pop("nextAttemptAt")
    assert datetime.fromisoformat(next_attempt) == datetime.fromisoformat(message["nextAttemptDate"])
    assert changed.payload == {
        "state": "WAITING",
        "previousState": "SENDING_ASYNC",
        "waitingReason": "READY_TO_BE_SENT",
        "failureReason": "SERVER_ERROR",
    }
