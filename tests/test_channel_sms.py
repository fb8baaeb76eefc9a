"""SMS through HTTP peers that answer like Twilio's Messages API and like a plain SMS gateway."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.worker.worker import Worker

from .helpers import configure, failure_of, read, seconds_until, submit
from .peers import HttpPeer, Reply, json_reply, status
from .test_api_messages import count_messages

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-42"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
TO = "+40722000111"


def twilio(peer: HttpPeer, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "TWILIO",
        "accountSid": SID,
        "authToken": TOKEN,
        "fromNumber": "+14155550100",
        "baseUrl": peer.url(""),
        **extra,
    }


def twilio_error(code: int, text: str, http_status: int = 400, **headers: str) -> Reply:
    """Twilio's error body: numeric code, message, more_info, status."""
    document = {"code": code, "message": text, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return json_reply(http_status, {**document, "status": http_status}, headers)


async def test_sends_through_twilio_with_basic_auth_and_records_the_sid(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    peer.script(PATH, json_reply(201, {"sid": "SM" + "ab" * 16, "status": "queued", "to": TO}))
    await configure(api_on_clock, "SMS", twilio(peer))
    key = await submit(api_on_clock, "SMS", TO, "Your code is 4242 & more")
    await worker.run_once()

    [request] = peer.at(PATH)
    assert parse_qs(request.body) == {"To": [TO], "From": ["+14155550100"], "Body": ["Your code is 4242 & more"]}
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    [attempt] = message["attempts"]
    assert attempt["providerMessageId"] == "SM" + "ab" * 16
    assert attempt["providerReply"] == "queued"
    assert attempt["statusCode"] == 201


async def test_a_messaging_service_replaces_the_from_number(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    service = "MG" + "0" * 32
    peer.script(PATH, json_reply(201, {"sid": "SM1"}))
    await configure(api_on_clock, "SMS", {**twilio(peer, messagingServiceSid=service), "fromNumber": None})
    await submit(api_on_clock, "SMS", TO)
    await worker.run_once()
    assert parse_qs(peer.at(PATH)[0].body)["MessagingServiceSid"] == [service]


@pytest.mark.parametrize(
    ("reply", "reason", "category", "wait"),
    [
        (twilio_error(21211, f"The 'To' number {TO} is not a valid phone number."), "INVALID_RECIPIENT", "N", None),
        (twilio_error(21614, "'To' number is not a valid mobile number"), "INVALID_RECIPIENT", "N", None),
        (twilio_error(21610, "Attempt to send to unsubscribed recipient"), "RECIPIENT_OPTED_OUT", "N", None),
        (twilio_error(21408, "Permission to send an SMS has not been enabled"), "SMS_REGION_NOT_PERMITTED", "N", None),
        (twilio_error(21606, "The 'From' phone number is not valid"), "SMS_SENDER_INVALID", "N", None),
        (twilio_error(21617, "The concatenated message body exceeds 1600 characters"), "SMS_TOO_LONG", "N", None),
        (twilio_error(20003, "Authenticate", 401), "INVALID_SMS_GATEWAY_CREDENTIALS", "N", None),
        (twilio_error(21999, "Something new"), "INVALID_HTTP_RESPONSE", "N", None),
        (twilio_error(30001, "Queue overflow"), "SMS_QUEUE_OVERFLOW", "R", 2),
        (twilio_error(20429, "Too Many Requests", 429, **{"Retry-After": "30"}), "RATE_LIMITED", "R", 30),
        (twilio_error(20500, "Internal Server Error", 500), "SMS_GATEWAY_ERROR", "R", 2),
        (status(502, "<html>Bad Gateway</html>"), "SMS_GATEWAY_ERROR", "R", 2),
    ],
)
async def test_each_twilio_error_is_classified(
    api_on_clock: httpx.AsyncClient,
    worker: Worker,
    peer: HttpPeer,
    clock: FakeClock,
    reply: Reply,
    reason: str,
    category: str,
    wait: float | None,
) -> None:
    peer.script(PATH, reply)
    await configure(api_on_clock, "SMS", twilio(peer))
    key = await submit(api_on_clock, "SMS", TO)
    await worker.run_once()
    message = await read(api_on_clock, key)
    expected = ("WAITING", reason, "RETRYABLE") if category == "R" else ("FAILED", reason, "NON_RETRYABLE")
    assert failure_of(message) == expected
    assert seconds_until(message["nextAttemptDate"], clock) == wait
    attempt = message["attempts"][0]
    body = json.loads(attempt["responseExcerpt"]) if attempt["responseExcerpt"].startswith("{") else None
    if body is not None:
        assert attempt["providerReply"] == f"{body['code']}: {body['message']}"


async def test_a_gateway_gets_its_template_filled_in(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer
) -> None:
    peer.script("/send", json_reply(200, {"result": {"id": "g-77"}, "messageId": "g-77"}))
    template = '{"recipient": "$to", "text": "$body", "ref": "$messageKey", "sender": "$from"}'
    settings = {
        "provider": "HTTP_GATEWAY",
        "url": peer.url("/send"),
        "template": template,
        "fromNumber": "BANK",
        "headers": {"X-Api-Key": "gw-key-1"},
        "messageIdField": "messageId",
    }
    shown = await configure(api_on_clock, "SMS", settings)
    assert shown["headers"] == {"X-Api-Key": "********"}
    key = await submit(api_on_clock, "SMS", TO, 'Say "hi"\nnow')
    await worker.run_once()
    [request] = peer.at("/send")
    assert json.loads(request.body) == {"recipient": TO, "text": 'Say "hi"\nnow', "ref": key, "sender": "BANK"}
    assert request.headers["X-Api-Key"] == "gw-key-1"
    assert request.headers["Content-Type"] == "application/json"
    message = await read(api_on_clock, key)
    assert message["state"] == "SENT"
    assert message["attempts"][0]["providerMessageId"] == "g-77"


@pytest.mark.parametrize(
    ("code", "reason", "state"),
    [
        (401, "INVALID_SMS_GATEWAY_CREDENTIALS", "FAILED"),
        (400, "INVALID_HTTP_RESPONSE", "FAILED"),
        (429, "RATE_LIMITED", "WAITING"),
        (503, "SMS_GATEWAY_ERROR", "WAITING"),
    ],
)
async def test_a_form_gateway_and_its_statuses(
    api_on_clock: httpx.AsyncClient, worker: Worker, peer: HttpPeer, code: int, reason: str, state: str
) -> None:
    peer.script("/form", status(code))
    await configure(
        api_on_clock,
        "SMS",
        {"provider": "HTTP_GATEWAY", "url": peer.url("/form"), "format": "FORM", "template": "to=$to&msg=$body"},
    )
    key = await submit(api_on_clock, "SMS", TO, "a&b=c")
    await worker.run_once()
    assert parse_qs(peer.at("/form")[0].body) == {"to": [TO], "msg": ["a&b=c"]}
    message = await read(api_on_clock, key)
    assert (message["state"], message["failureReason"]) == (state, reason)


async def test_without_a_provider_sms_is_not_enabled(api_on_clock: httpx.AsyncClient, worker: Worker) -> None:
    key = await submit(api_on_clock, "SMS", TO)
    await worker.run_once()
    assert failure_of(await read(api_on_clock, key)) == ("FAILED", "SMS_SERVICE_NOT_ENABLED", "NON_RETRYABLE")


@pytest.mark.parametrize("number", ["0722000111", "+0722", "+40 722 000 111", "40722000111"])
async def test_a_number_that_is_not_e164_is_refused_at_submit(
    api: httpx.AsyncClient, engine: AsyncEngine, number: str
) -> None:
    response = await api.post("/api/messages", json={"type": "SMS", "destination": number, "body": "x"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], "E.164" in error["message"]) == ("destination", True)
    assert await count_messages(engine) == 0


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"provider": "TWILIO", "accountSid": "AC1", "authToken": "t", "fromNumber": "+14155550100"}, "accountSid", ""),
        ({"provider": "TWILIO", "accountSid": SID, "fromNumber": "+14155550100"}, "authToken", "required"),
        ({"provider": "TWILIO", "accountSid": SID, "authToken": "t", "fromNumber": "0755"}, "fromNumber", "E.164"),
        ({"provider": "TWILIO", "accountSid": SID, "authToken": "t"}, "settings", "exactly one"),
        ({"provider": "CARRIER_PIGEON"}, "provider", "TWILIO"),
        ({"provider": "HTTP_GATEWAY", "url": "ftp://x", "template": "$to"}, "url", "http"),
        ({"provider": "HTTP_GATEWAY", "url": "http://gw", "template": "$to $phone"}, "settings", "phone"),
        ({"provider": "HTTP_GATEWAY", "url": "http://gw", "template": '{"to": $to}'}, "settings", "JSON"),
    ],
)
async def test_bad_sms_settings_are_refused(
    api: httpx.AsyncClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = await api.put("/api/settings/channels/SMS", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert words in error["message"]
    assert (await api.get("/api/settings/channels/SMS")).status_code == 404


async def test_the_auth_token_is_masked(api: httpx.AsyncClient, peer: HttpPeer) -> None:
    shown = await configure(api, "SMS", twilio(peer))
    assert shown["authToken"] == "********"
    assert TOKEN not in (await api.get("/api/settings/channels")).text
