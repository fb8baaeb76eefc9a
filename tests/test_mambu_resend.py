"""Resend through the Mambu dialects: seed 001's v1 action and seed 000's v2 routes, with Mambu's errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState

from .factories import children, message_count, stored_message, workspace_id

V1 = "/api/notifications/messages"
V2 = "/api/communications/messages"


async def failed(engine: AsyncEngine, clock: FakeClock, count: int, **fields: Any) -> list[str]:
    ws = await workspace_id(engine, clock.now)
    return [await stored_message(engine, ws, clock.now, **fields) for _ in range(count)]


async def test_seed_001_resend_one_or_many(api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    for count in (1, 3):
        keys = await failed(engine, clock, count)
        response = await api.post(V1, json={"action": "resend", "identifiers": keys})
        assert response.status_code == 200, response.text
        assert response.json() == {"returnCode": 200, "returnStatus": "SUCCESS"}
        for key in keys:
            [resend] = await children(engine, key)
            assert (resend.state, resend.sender_key, resend.origin) == ("QUEUED", "key:admin", "MANUAL_RESEND")


async def test_v1_idempotency_key_makes_a_repeat_a_no_op(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    keys = await failed(engine, clock, 2)
    body, headers = {"action": "resend", "identifiers": keys}, {"Idempotency-Key": "nightly-7"}
    first = await api.post(V1, json=body, headers=headers)
    again = await api.post(V1, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [len(await children(engine, key)) for key in keys] == [1, 1]


_KEY = "0" * 32

#: Bad v1 bodies: (body, HTTP status, what errorSource says). One server answers them all.
V1_BAD: list[tuple[dict[str, Any], int, str]] = [
    ({"identifiers": [_KEY]}, 400, "action: is required"),
    ({"action": "delete", "identifiers": [_KEY]}, 400, "action: 'delete' is not a known action"),
    ({"action": "resend"}, 400, "identifiers: is required"),
    ({"action": "resend", "identifiers": []}, 400, "identifiers: must name at least one"),
    ({"action": "resend", "identifiers": [f"{i:032x}" for i in range(1001)]}, 400, "at most 1000"),
    ({"action": "resend", "identifiers": [_KEY, _KEY]}, 400, f"identifiers[1]: '{_KEY}' is a duplicate"),
    ({"action": "resend", "identifiers": ["8a80-bad"]}, 400, "identifiers[0]: '8a80-bad' is not"),
    ({"action": "resend", "identifiers": ["f" * 32]}, 404, "identifiers[0]: no message"),
]


async def test_v1_bad_requests_answer_mambu_v1_errors_and_resend_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    [good] = await failed(engine, clock, 1)
    sent = await stored_message(engine, await workspace_id(engine, clock.now), clock.now, MessageState.SENT)
    elsewhere = await stored_message(engine, await workspace_id(engine, clock.now, "other"), clock.now)
    refusals = [
        ({"action": "resend", "identifiers": [good, sent]}, 409, f"identifiers[1]: message '{sent}' is SENT"),
        (
            {"action": "resend", "identifiers": [good, elsewhere]},
            404,
            f"identifiers[1]: no message with encoded key '{elsewhere}'",
        ),
    ]
    before = await message_count(engine)
    for body, status, source in V1_BAD + refusals:
        response = await api.post(V1, json=body)
        assert response.status_code == status, response.text
        error = response.json()
        assert set(error) == {"returnCode", "returnStatus", "errorSource"}
        assert (error["returnCode"], error["returnStatus"]) == (4, "INVALID_PARAMETERS")
        assert source in error["errorSource"], response.text
    assert await message_count(engine) == before
    assert await children(engine, good) == []


async def test_v2_resend_by_keys(api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    def as_object(keys: list[str]) -> Any:
        return {"messages": keys}

    def as_search_response(keys: list[str]) -> Any:  # seed 000: a search's answer, posted as it is
        return [{"encodedKey": key, "state": "FAILED", "type": "WEB_HOOK"} for key in keys]

    for route, status, shape in [
        (":resend", 202, as_object),
        (":resend", 202, as_search_response),
        (":resendAsyncByKeys", 200, as_object),
    ]:
        keys = await failed(engine, clock, 2)
        response = await api.post(V2 + route, json=shape(keys))
        assert response.status_code == status, response.text
        assert response.content == b""
        assert [len(await children(engine, key)) for key in keys] == [1, 1]


#: Bad v2 bodies for :resend: (body, HTTP status, how errorSource starts).
V2_BAD: list[tuple[Any, int, str]] = [
    ({"messages": []}, 400, "messages: must name at least one"),
    ({"messages": [_KEY, _KEY]}, 400, "messages[1]: "),
    ({"messages": [42]}, 400, "messages[0]: must be an encoded key"),
    ({"keys": [_KEY]}, 400, "messages: is required"),
    ({"messages": ["e" * 32]}, 404, "messages[0]: no message with encoded key"),
]


async def test_v2_bad_requests_answer_mambu_v2_errors(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    [key] = await failed(engine, clock, 1)
    for body, status, source in V2_BAD:
        response = await api.post(V2 + ":resend", json=body)
        assert response.status_code == status, response.text
        [error] = response.json()["errors"]
        assert (error["errorCode"], error["errorReason"]) == (4, "INVALID_PARAMETERS")
        assert error["errorSource"].startswith(source), response.text
    assert await children(engine, key) == []


async def test_v2_resend_by_date_resends_failed_messages_of_those_types_in_the_range(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    ws = await workspace_id(engine, clock.now)
    inside = clock.now - timedelta(hours=1)
    hook = await stored_message(engine, ws, inside)
    email = await stored_message(engine, ws, inside, type="EMAIL", destination="a@example.com")
    sms = await stored_message(engine, ws, inside, type="SMS", destination="+15550100")
    early = await stored_message(engine, ws, clock.now - timedelta(days=2))
    sent = await stored_message(engine, ws, inside, MessageState.SENT)
    body = {
        "startDate": (clock.now - timedelta(days=1)).isoformat(),
        "endDate": clock.now.isoformat(),
        "templateTypes": ["WEB_HOOK", "EMAIL", "TASK"],
    }
    response = await api.post(V2 + ":resendAsyncByDate", json=body)
    assert response.status_code == 200, response.text
    resent = {key: len(await children(engine, key)) for key in (hook, email, sms, early, sent)}
    assert resent == {hook: 1, email: 1, sms: 0, early: 0, sent: 0}
    again = await api.post(V2 + ":resendAsyncByDate", json=body)
    assert again.status_code == 200
    assert len(await children(engine, hook)) == 1, "a resent original lives on in its resend"


#: Bad bodies for :resendAsyncByDate, with how errorSource starts.
BY_DATE_BAD: list[tuple[dict[str, Any], str]] = [
    ({"startDate": "2026-03-02T00:00:00Z", "endDate": "2026-03-01T00:00:00Z"}, "endDate: must not be before"),
    (
        {"startDate": "2026-03-01T00:00:00Z", "endDate": "2026-03-02T00:00:00Z", "templateTypes": ["FAX"]},
        "templateTypes[0]: 'FAX'",
    ),
    ({"endDate": "2026-03-02T00:00:00Z"}, "startDate: is required"),
    ({"startDate": "last week", "endDate": "2026-03-02T00:00:00Z"}, "startDate: "),
]


async def test_v2_resend_by_date_bad_bodies(api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    [key] = await failed(engine, clock, 1)
    for body, source in BY_DATE_BAD:
        response = await api.post(V2 + ":resendAsyncByDate", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["errorSource"].startswith(source), response.text
    assert await children(engine, key) == []
