"""Push through an HTTP peer that answers like Firebase Cloud Messaging's HTTP v1 API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.store.tables import messages
from commlog.worker.worker import Worker

from .helpers import configure, failure_of, read, seconds_until, submit
from .peers import HttpPeer, Reply, json_reply, status
from .test_api_messages import count_messages

PROJECT = "commlog-test-app"
ACCESS_TOKEN = "ya29.push-access-token-42"
PATH = f"/v1/projects/{PROJECT}/messages:send"
DEVICE = "fGcm:APA91bH-device_token_1"
NAME = f"projects/{PROJECT}/messages/0:1500415314455276%31bd1c9631bd1c96"


def fcm(peer: HttpPeer, **extra: Any) -> dict[str, Any]:
    return {"provider": "FCM", "projectId": PROJECT, "accessToken": ACCESS_TOKEN, "baseUrl": peer.url(""), **extra}


def fcm_error(http_status: int, api_status: str, text: str, error_code: str | None = None, **headers: str) -> Reply:
    """A Google API error body, with FCM's own code in a `FcmError` detail when it gives one."""
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
    error = {"code": http_status, "message": text, "status": api_status, "details": details if error_code else []}
    return json_reply(http_status, {"error": error}, headers)


async def test_sends_with_a_bearer_token_and_records_the_message_name(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    peer.script(PATH, json_reply(200, {"name": NAME}))
    await configure(api_on_clock, "PUSH", fcm(peer))
    key = await submit(api_on_clock, "PUSH", DEVICE, "Your order shipped", subject="Order 42", headers={"o": "42"})
    await worker.run_once()

    [request] = peer.at(PATH)
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.body) == {
        "message": {
            "token": DEVICE,
            "notification": {"title": "Order 42", "body": "Your order shipped"},
            "data": {"o": "42", "messageKey": key},
        }
    }
    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    [attempt] = message["attempts"]
    assert (attempt["providerMessageId"], attempt["statusCode"]) == (NAME, 200)


#: Each FCM reply with the reason, category and wait it must give: for a retryable failure the wait
#: before the retry, for a business-logic one the recommended wait before a retry can help.
FCM_FAILURES: list[tuple[Reply, str, str, float | None]] = [
    (
        fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
        "PUSH_TOKEN_UNREGISTERED",
        "NON_RETRYABLE",
        None,
    ),
    (
        fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
        "PUSH_INVALID_ARGUMENT",
        "NON_RETRYABLE",
        None,
    ),
    (
        fcm_error(400, "INVALID_ARGUMENT", "Invalid registration", "INVALID_ARGUMENT"),
        "PUSH_INVALID_ARGUMENT",
        "NON_RETRYABLE",
        None,
    ),
    (
        fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
        "PUSH_SENDER_MISMATCH",
        "NON_RETRYABLE",
        None,
    ),
    (fcm_error(404, "NOT_FOUND", "Requested entity was not found."), "PUSH_NOT_FOUND", "NON_RETRYABLE", None),
    (
        fcm_error(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"),
        "PUSH_THIRD_PARTY_AUTH_ERROR",
        "NON_RETRYABLE",
        None,
    ),
    (
        fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
        "INVALID_PUSH_CREDENTIALS",
        "NON_RETRYABLE",
        None,
    ),
    (
        fcm_error(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied"),
        "INVALID_PUSH_CREDENTIALS",
        "NON_RETRYABLE",
        None,
    ),
    (
        fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE", **{"Retry-After": "40"}),
        "PUSH_PROVIDER_UNAVAILABLE",
        "RETRYABLE",
        40,
    ),
    (fcm_error(500, "INTERNAL", "Internal error encountered.", "INTERNAL"), "PUSH_PROVIDER_ERROR", "RETRYABLE", 2),
    (status(502, "<html>Bad Gateway</html>"), "PUSH_PROVIDER_ERROR", "RETRYABLE", 2),
    (
        fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED", **{"Retry-After": "900"}),
        "PUSH_QUOTA_EXCEEDED",
        "BUSINESS_LOGIC",
        900,
    ),
    (
        fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"),
        "PUSH_QUOTA_EXCEEDED",
        "BUSINESS_LOGIC",
        60,
    ),
]


def by_device(replies: dict[str, Reply]) -> Reply:
    """Answer each request with the reply scripted for its device token, as if FCM judged each token."""

    async def reply(request: web.Request) -> web.StreamResponse:
        token = json.loads(await request.text())["message"]["token"]
        return await replies[token](request)

    return reply


async def _retry_not_before(engine: AsyncEngine, key: str) -> datetime | None:
    async with engine.connect() as conn:
        query = select(messages.c.retry_not_before).where(messages.c.encoded_key == key)
        value: datetime | None = (await conn.execute(query)).scalar_one()
        return value


async def test_each_fcm_error_is_classified(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer, clock: FakeClock, engine: AsyncEngine
) -> None:
    devices = [f"{DEVICE}-{index}" for index in range(len(FCM_FAILURES))]
    peer.script(PATH, by_device({device: case[0] for device, case in zip(devices, FCM_FAILURES, strict=True)}))
    await configure(api_on_clock, "PUSH", fcm(peer))
    keys = [await submit(api_on_clock, "PUSH", device) for device in devices]
    await worker.run_once()
    assert len(peer.at(PATH)) == len(FCM_FAILURES)
    for key, (_, reason, category, wait) in zip(keys, FCM_FAILURES, strict=True):
        message = await read(api_on_clock, key)
        state = "WAITING" if category == "RETRYABLE" else "FAILED"
        assert failure_of(message) == (state, reason, category), reason
        if category == "BUSINESS_LOGIC":
            not_before = await _retry_not_before(engine, key)
            assert not_before is not None and (not_before - clock.now).total_seconds() == wait
        else:
            assert seconds_until(message["nextAttemptDate"], clock) == wait, reason
        attempt = message["attempts"][0]
        if attempt["responseExcerpt"].startswith("{"):
            error = json.loads(attempt["responseExcerpt"])["error"]
            code = error["details"][0]["errorCode"] if error["details"] else error["status"]
            assert attempt["providerReply"] == f"{code}: {error['message']}"


async def test_a_retryable_failure_is_delivered_on_retry(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer, clock: FakeClock
) -> None:
    peer.script(PATH, fcm_error(503, "UNAVAILABLE", "busy", "UNAVAILABLE"), json_reply(200, {"name": NAME}))
    await configure(api_on_clock, "PUSH", fcm(peer))
    key = await submit(api_on_clock, "PUSH", DEVICE)
    await worker.run_once()
    clock.advance(2)
    await worker.run_once()
    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    assert [a["outcome"] for a in message["attempts"]] == ["FAILED", "SENT"]
    assert len(peer.at(PATH)) == 2


async def test_an_unreachable_provider_is_retryable(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    await configure(api_on_clock, "PUSH", fcm(peer, baseUrl="http://127.0.0.1:9"))
    key = await submit(api_on_clock, "PUSH", DEVICE)
    await worker.run_once()
    assert failure_of(await read(api_on_clock, key)) == ("WAITING", "CONNECTION_REFUSED", "RETRYABLE")


async def test_without_a_provider_push_is_not_enabled(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    key = await submit(api_on_clock, "PUSH", DEVICE)
    await worker.run_once()
    assert failure_of(await read(api_on_clock, key)) == ("FAILED", "PUSH_SERVICE_NOT_ENABLED", "NON_RETRYABLE")


async def test_a_token_with_spaces_is_refused_at_submit(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await api.post("/api/messages", json={"type": "PUSH", "destination": "not a token", "body": "x"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], "token" in error["message"]) == ("destination", True)
    assert await count_messages(engine) == 0


#: Push settings that must be refused, and the field the refusal names.
BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"projectId": "Bad Project", "accessToken": "t"}, "projectId"),
    ({"projectId": PROJECT}, "accessToken"),
    ({"projectId": PROJECT, "accessToken": "t", "baseUrl": "ftp://fcm"}, "baseUrl"),
    ({"provider": "APNS", "projectId": PROJECT, "accessToken": "t"}, "provider"),
]


async def test_bad_push_settings_are_refused(api: httpx.AsyncClient) -> None:
    for body, field in BAD_SETTINGS:
        response = await api.put("/api/settings/channels/PUSH", json=body)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await api.get("/api/settings/channels/PUSH")).status_code == 404


async def test_the_access_token_is_never_returned_and_survives_a_masked_put(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    shown = await configure(api_on_clock, "PUSH", fcm(peer))
    assert shown["accessToken"] == "********"
    for path in ("/api/settings/channels", "/api/settings/channels/PUSH"):
        assert ACCESS_TOKEN not in (await api_on_clock.get(path)).text
    await configure(api_on_clock, "PUSH", shown)  # what a client read, sent back: the token stays
    peer.script(PATH, json_reply(200, {"name": NAME}))
    await submit(api_on_clock, "PUSH", DEVICE)
    await worker.run_once()
    assert peer.at(PATH)[0].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
