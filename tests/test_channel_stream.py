"""The event stream: a real SSE client (aiohttp) reads a live server's stream, leaves and resumes;
stream notifications are SENT when their subscriber acknowledges them and retried when it does not."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.app import create_app
from commlog.config import Settings
from commlog.domain.circuit import destination_of
from commlog.domain.clock import utc_now
from commlog.domain.permissions import Role
from commlog.store import events
from commlog.store.accounts import create_api_key
from commlog.store.workspaces import create_workspace

from .conftest import ADMIN_API_KEY, LiveServer
from .helpers import read, submit

NOWHERE = "http://127.0.0.1:9/hook"  # never called: these servers run no worker
FAST = {"stream_poll_interval": 0.02, "stream_keepalive": 0.2}


@dataclass
class Event:
    id: int
    kind: str
    data: dict[str, Any]


@dataclass
class SseClient:
    """Reads `text/event-stream` frames as a browser's EventSource would, keeping the comments too."""

    response: aiohttp.ClientResponse
    comments: list[str] = field(default_factory=list)

    async def next(self, timeout: float = 5.0) -> Event:
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = fields.get(name, "") + value.removeprefix(" ")
                elif "data" in fields:
                    return Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                else:
                    fields.clear()

    async def take(self, count: int) -> list[Event]:
        return [await self.next() for _ in range(count)]

    async def until(self, kind: str, **match: Any) -> Event:
        while True:
            event = await self.next()
            if event.kind == kind and all(event.data.get(k) == v for k, v in match.items()):
                return event


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=10)) as session:
        yield session


class Streams:
    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    def open(self, query: str = "", key: str = ADMIN_API_KEY, **headers: str) -> Any:
        return self.http.get(
            f"{self.base_url}/api/stream{query}", headers={"apiKey": key, "Accept": "text/event-stream", **headers}
        )


@dataclass
class Live:
    api: httpx.AsyncClient
    streams: Streams


async def _live(make_api: Any, http: aiohttp.ClientSession, **overrides: Any) -> Live:
    api = make_api(**{**FAST, **overrides})
    return Live(api, Streams(http, str(api.base_url).rstrip("/")))


async def test_events_come_in_order_and_a_client_resumes_where_it_left(
    make_api: Any, http: aiohttp.ClientSession
) -> None:
    live = await _live(make_api, http)
    first = [await submit(live.api, "WEB_HOOK", NOWHERE, f"m{i}") for i in range(3)]
    async with live.streams.open() as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        client = SseClient(response)
        seen = await client.take(3)
        await asyncio.sleep(0.3)  # idle: a keep-alive comment comes
        later = await submit(live.api, "WEB_HOOK", NOWHERE, "m3")
        seen.append(await client.next())
        assert "keep-alive" in client.comments
    assert [e.kind for e in seen] == ["message.created"] * 4
    assert [e.data["encodedKey"] for e in seen] == [*first, later]
    assert [e.id for e in seen] == sorted({e.id for e in seen})
    assert seen[0].data["type"] == "WEB_HOOK" and seen[0].data["state"] == "QUEUED"
    assert seen[0].data["id"] == seen[0].id

    # Gone for a while; two messages come meanwhile; resuming gives exactly those, once each.
    missed = [await submit(live.api, "WEB_HOOK", NOWHERE, f"n{i}") for i in range(2)]
    async with live.streams.open(**{"Last-Event-ID": str(seen[-1].id)}) as response:
        client = SseClient(response)
        resumed = await client.take(2)
        extra = await submit(live.api, "WEB_HOOK", NOWHERE, "n2")
        resumed.append(await client.next())
    assert [e.data["encodedKey"] for e in resumed] == [*missed, extra]
    assert resumed[0].id > seen[-1].id

    # ?after= does the same, and Last-Event-ID wins over it (a reconnecting EventSource keeps its URL).
    async with live.streams.open(f"?after={seen[1].id}", **{"Last-Event-ID": str(resumed[0].id)}) as response:
        assert [e.data["encodedKey"] for e in await SseClient(response).take(2)] == [missed[1], extra]
    async with live.streams.open(f"?after={seen[1].id}&kinds=message.created&type=WEB_HOOK") as response:
        assert (await SseClient(response).next()).data["encodedKey"] == seen[2].data["encodedKey"]


async def test_an_acknowledged_notification_is_sent(make_api: Any, http: aiohttp.ClientSession) -> None:
    live = await _live(make_api, http, run_worker=True, stream_ack_timeout=10)
    async with live.streams.open("?subscriber=billing") as response:
        inbox = SseClient(response)
        key = await submit(live.api, "EVENT_STREAM", "billing", '{"invoice": 7}', subject="Invoice 7")
        note = await inbox.next()
    assert note.kind == "notification"
    assert note.data | {"at": None} == {
        "id": note.id,
        "kind": "notification",
        "encodedKey": key,
        "type": "EVENT_STREAM",
        "at": None,
        "subscriber": "billing",
        "subject": "Invoice 7",
        "body": '{"invoice": 7}',
        "headers": None,
        "attemptNumber": 1,
    }
    assert (await read(live.api, key))["state"] == "SENDING_ASYNC"  # waiting for the subscriber

    answer = await live.api.post("/api/stream/billing/ack", json={"encodedKey": key})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"encodedKey": key, "subscriber": "billing", "state": "SENDING_ASYNC", "acknowledged": True}
    message = await _until_state(live.api, key, "SENT")
    [attempt] = message["attempts"]
    assert (attempt["outcome"], attempt["providerReply"]) == ("SENT", "acknowledged by subscriber 'billing'")

    # The whole story of the message is on the stream, in order.
    async with live.streams.open() as response:
        log = SseClient(response)
        story = [await log.until("message.created", encodedKey=key)]
        while story[-1].kind != "state.changed":
            story.append(await log.next())
    assert [e.kind for e in story] == ["message.created", "notification", "attempt.made", "state.changed"]
    assert story[2].data["sent"] is True and story[3].data["state"] == "SENT"
    # Acknowledging again is harmless.
    assert (await live.api.post("/api/stream/billing/ack", json={"encodedKey": key})).status_code == 202


async def test_an_unacknowledged_notification_is_retried(make_api: Any, http: aiohttp.ClientSession) -> None:
    live = await _live(make_api, http, run_worker=True, stream_ack_timeout=0.3)
    policy = await live.api.put("/api/settings/retry-policy", json={"maxRetries": 2, "backOffDelay": 0.5})
    assert policy.status_code == 200, policy.text
    async with live.streams.open("?subscriber=ledger") as response:
        inbox = SseClient(response)
        key = await submit(live.api, "EVENT_STREAM", "ledger", "entry")
        # No acknowledgement: each retry publishes the notification again.
        assert [(e.data["encodedKey"], e.data["attemptNumber"]) for e in await inbox.take(2)] == [(key, 1), (key, 2)]
    waiting = await _until(live.api, key, lambda m: m["state"] == "WAITING" and len(m["attempts"]) == 2)
    assert (waiting["failureReason"], waiting["failureCategory"]) == ("STREAM_NOT_ACKNOWLEDGED", "RETRYABLE")
    assert [a["failureReason"] for a in waiting["attempts"]] == ["STREAM_NOT_ACKNOWLEDGED"] * 2
    # A late acknowledgement still counts: the next retry finds it and the message is SENT.
    assert (await live.api.post("/api/stream/ledger/ack", json={"encodedKey": key})).status_code == 202
    message = await _until_state(live.api, key, "SENT")
    assert [a["outcome"] for a in message["attempts"]] == ["FAILED", "FAILED", "SENT"]


async def test_a_workspace_never_sees_another_workspaces_events(
    make_api: Any, http: aiohttp.ClientSession, engine: AsyncEngine
) -> None:
    live = await _live(make_api, http)
    async with engine.begin() as conn:
        other = await create_workspace(conn, "other", utc_now())
        _, other_key = await create_api_key(conn, other.id, "reader", Role.ADMIN, "test", utc_now())
    async with httpx.AsyncClient(base_url=live.api.base_url, headers={"apiKey": other_key}) as them:
        theirs = await submit(them, "EVENT_STREAM", "ops")
    ours = await submit(live.api, "EVENT_STREAM", "ops")
    async with live.streams.open() as response:
        mine = await SseClient(response).next()
    async with live.streams.open(key=other_key) as response:
        client = SseClient(response)
        their_first = await client.next()
        with pytest.raises(TimeoutError):
            await client.next(timeout=0.3)
    assert (mine.data["encodedKey"], their_first.data["encodedKey"]) == (ours, theirs)
    refused = await live.api.post("/api/stream/ops/ack", json={"encodedKey": theirs})
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["field"] == "encodedKey"


async def test_bad_requests_name_what_is_wrong(make_api: Any, http: aiohttp.ClientSession) -> None:
    live = await _live(make_api, http)
    cases = [
        ("", {"Last-Event-ID": "abc"}, "Last-Event-ID"),
        ("", {"Last-Event-ID": "-4"}, "Last-Event-ID"),
        ("?after=1.5", {}, "after"),
        ("?kinds=message.created,bogus", {}, "kinds"),
        ("?type=FAX", {}, "type"),
        ("?subscriber=no%20spaces", {}, "subscriber"),
    ]
    for query, headers, name in cases:
        async with live.streams.open(query, **headers) as response:
            assert response.status == 400, (query, headers)
            [error] = (await response.json())["errors"]
            assert error["field"] == name
    async with live.streams.open(key="cl_wrong") as response:
        assert response.status == 401
    webhook = await submit(live.api, "WEB_HOOK", NOWHERE)
    for path, body, status, name in [
        ("/api/stream/ops/ack", {}, 422, "encodedKey"),
        ("/api/stream/ops/ack", {"encodedKey": "nope"}, 404, "encodedKey"),
        ("/api/stream/ops/ack", {"encodedKey": webhook}, 404, "encodedKey"),
        ("/api/stream/bad%20name/ack", {"encodedKey": webhook}, 400, "subscriber"),
    ]:
        answer = await live.api.post(path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["errors"][0]["field"] == name


async def test_the_server_stops_at_once_with_a_stream_open(
    settings: Settings, engine: AsyncEngine, http: aiohttp.ClientSession
) -> None:
    server = LiveServer(create_app(settings, run_worker=False))
    base_url = server.__enter__()
    async with Streams(http, base_url).open() as response:
        assert response.status == 200
        await response.content.readline()
        began = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, server.__exit__)
        assert not server.thread.is_alive()
        assert time.monotonic() - began < 3
        await response.content.read()  # returns: the stream ended cleanly, with its last chunk
        assert response.content.at_eof()


async def test_a_late_commit_is_not_skipped(engine: AsyncEngine) -> None:
    """A transaction that drew its id first but commits last still reaches a reader who moved on."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time, so ids and commits cannot cross")
    now = utc_now()
    note = {"workspace_id": "ws", "subscriber": "s", "payload": {}, "now": now}
    async with engine.connect() as slow:
        await slow.begin()
        await events.publish_notification(slow, message_key="early", **note)
        async with engine.begin() as fast:
            await events.publish_notification(fast, message_key="late", **note)
        seen = await _sequenced_after(engine, 0)
        assert [row.message_key for row in seen] == ["late"]
        await slow.commit()
    after = await _sequenced_after(engine, seen[-1].seq)
    assert [row.message_key for row in after] == ["early"]


async def _sequenced_after(engine: AsyncEngine, cursor: int) -> list[Any]:
    async with engine.begin() as conn:
        await events.sequence(conn)
    async with engine.connect() as conn:
        return await events.read(conn, "ws", cursor, 100)


async def _until_state(api: httpx.AsyncClient, key: str, state: str) -> dict[str, Any]:
    return await _until(api, key, lambda message: message["state"] == state)


async def _until(
    api: httpx.AsyncClient, key: str, done: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = await read(api, key)
        if done(message) or time.monotonic() > deadline:
            assert done(message), message
            return message
        await asyncio.sleep(0.02)


def test_each_subscriber_has_its_own_circuit() -> None:
    """A subscriber that never acknowledges must not hold back another subscriber's notifications."""
    assert destination_of("EVENT_STREAM", "billing", "ws") != destination_of("EVENT_STREAM", "ledger", "ws")
    assert destination_of("EVENT_STREAM", "billing", "ws") != destination_of("EVENT_STREAM", "billing", "other")
