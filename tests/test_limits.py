"""Seed 003's business-logic limits through the real worker, a real HTTP peer and the live API:
daily sending limits that reset at the workspace's midnight, and the suppression list."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.channels.registry import build_channels, build_gates
from commlog.config import Settings
from commlog.domain.clock import FakeClock, utc_now, zone_named
from commlog.domain.failures import FailureCategory
from commlog.domain.limits import grant, next_reset, parse_daily_limits, suppression_key
from commlog.domain.retry import RetryPolicy, sweep_eligible
from commlog.domain.retry_status import RetryStatus, retry_status
from commlog.store import suppressions
from commlog.store.failed import FailedFilter, failed_messages
from commlog.store.messages import get_message
from commlog.store.tables import workspaces
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace
from commlog.worker.worker import Worker

from .faults.common import WorkerWith, queue_webhooks, states_of
from .peers import HttpPeer, hang, status
from .test_delivery import read, submit


async def set_limits(api: httpx.AsyncClient, **limits: int | None) -> dict[str, Any]:
    response = await api.put("/api/settings/limits", json={"dailyLimits": limits})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sent_today(api: httpx.AsyncClient, channel: str = "WEB_HOOK") -> int:
    return int((await api.get("/api/settings/limits")).json()["sentToday"][channel])


async def test_a_daily_limit_lets_n_through_and_the_rest_goes_after_midnight(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock, engine: AsyncEngine
) -> None:
    await set_limits(api_on_clock, WEB_HOOK=2)
    await api_on_clock.put("/api/settings/retry-policy", json={"sweepIntervalSeconds": 3600})
    keys = [await submit(api_on_clock, peer.url(f"/n{i}")) for i in range(3)]
    assert await worker.run_once() == 3
    messages = [await read(api_on_clock, key) for key in keys]
    sent = [m for m in messages if m["state"] == "SENT"]
    [held] = [m for m in messages if m["state"] == "FAILED"]
    assert len(sent) == 2 and len(peer.received) == 2
    assert (held["failureReason"], held["failureCategory"]) == ("DAILY_LIMIT_REACHED", "BUSINESS_LOGIC")
    # 09:00 UTC in a UTC workspace: the limit resets at midnight, 15 hours on.
    assert held["retryNotBefore"] == "2026-03-03T00:00:00.000+00:00"
    assert "limit of 2" in held["failureCause"]
    assert await sent_today(api_on_clock) == 2
    async with engine.connect() as conn:
        pending = FailedFilter(retry_status=RetryStatus.SWEEP_PENDING)
        found = await failed_messages(conn, held["workspaceId"], pending, RetryPolicy(), 10, None)
    assert [row.encoded_key for row in found.rows] == [held["encodedKey"]], "the Failed page says it will be retried"

    clock.advance(14 * 3600)  # 23:00: sweeps run, but the limit has not reset
    await worker.run_once()
    await worker.run_once()
    assert len((await read(api_on_clock, held["encodedKey"]))["attempts"]) == 1
    assert len(peer.received) == 2

    clock.advance(3600)  # midnight: the next sweep retries it, and it goes
    await worker.run_once()
    await worker.run_once()
    retried = await read(api_on_clock, held["encodedKey"])
    assert retried["state"] == "SENT"
    assert [a["trigger"] for a in retried["attempts"]] == ["FIRST_SEND", "DAILY_SWEEP"]
    assert len(peer.received) == 3
    assert await sent_today(api_on_clock) == 1, "a new day, a new count"


async def test_the_limit_resets_at_midnight_of_the_workspace_time_zone(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(workspaces).values(time_zone="America/New_York"))
    await set_limits(api_on_clock, WEB_HOOK=0)
    key = await submit(api_on_clock, peer.url())
    await worker.run_once()
    message = await read(api_on_clock, key)
    assert message["failureReason"] == "DAILY_LIMIT_REACHED"
    # 09:00 UTC is 04:00 in New York; its midnight is 05:00 UTC the next day.
    assert message["retryNotBefore"] == "2026-03-03T05:00:00.000+00:00"
    assert peer.received == []
    shown = (await api_on_clock.get("/api/settings/limits")).json()
    assert shown["timeZone"] == "America/New_York"
    assert shown["resetsAt"] == "2026-03-03T05:00:00.000+00:00"


async def test_a_failed_attempt_gives_its_share_of_the_limit_back(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker
) -> None:
    await set_limits(api_on_clock, WEB_HOOK=2)
    peer.script("/down", status(500))
    down = await submit(api_on_clock, peer.url("/down"))
    await worker.run_once()
    assert (await read(api_on_clock, down))["state"] == "WAITING"
    assert await sent_today(api_on_clock) == 0
    good = [await submit(api_on_clock, peer.url()) for _ in range(2)]
    await worker.run_once()
    assert [(await read(api_on_clock, k))["state"] for k in good] == ["SENT", "SENT"]
    assert await sent_today(api_on_clock) == 2


async def test_two_workers_claiming_at_once_never_send_more_than_the_limit(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, engine: AsyncEngine, settings: Settings, clock: FakeClock
) -> None:
    await set_limits(api_on_clock, WEB_HOOK=7)
    batch = [{"type": "WEB_HOOK", "destination": peer.url(), "body": "{}"} for _ in range(12)]
    submitted = await api_on_clock.post("/api/messages:batch", json={"messages": batch})
    assert submitted.status_code == 202, submitted.text
    keys = [m["encodedKey"] for m in submitted.json()["messages"]]
    small = replace(settings, claim_batch=5)
    channels = [build_channels(small, clock) for _ in range(2)]
    workers = [Worker(engine, c, small, clock, build_gates(small)) for c in channels]
    claimed = await asyncio.gather(*(w.run_once() for w in workers))
    assert sum(claimed) == 10
    await asyncio.gather(*(w.run_once() for w in workers))
    for c in channels:
        for channel in c.values():
            await channel.close()
    assert len(peer.received) == 7
    assert await sent_today(api_on_clock) == 7
    reasons = sorted([str((await read(api_on_clock, key))["failureReason"]) for key in keys])
    assert reasons == ["DAILY_LIMIT_REACHED"] * 5 + ["None"] * 7


async def test_an_opted_out_recipient_fails_non_retryable_and_receives_nothing(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker
) -> None:
    await set_limits(api_on_clock, WEB_HOOK=1)
    added = await api_on_clock.post(
        "/api/suppressions", json={"destination": peer.url("/out"), "channel": "WEB_HOOK", "reason": "unsubscribed"}
    )
    assert added.status_code == 201, added.text
    entry = added.json()
    assert (entry["channel"], entry["reason"], entry["createdBy"]) == ("WEB_HOOK", "unsubscribed", "key:admin")
    email = await api_on_clock.post("/api/suppressions", json={"destination": "Ann@Example.com"})
    assert email.status_code == 201 and email.json()["channel"] is None
    again = await api_on_clock.post("/api/suppressions", json={"destination": "ann@example.COM"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "destination"

    out = await submit(api_on_clock, peer.url("/out"))
    kept = await submit(api_on_clock, peer.url("/in"))
    mail = await api_on_clock.post(
        "/api/messages", json={"type": "EMAIL", "destination": "ANN@example.com", "subject": "Hi", "body": "x"}
    )
    await worker.run_once()
    for key in (out, mail.json()["encodedKey"]):
        message = await read(api_on_clock, key)
        assert (message["state"], message["failureReason"], message["failureCategory"]) == (
            "FAILED",
            "RECIPIENT_OPTED_OUT",
            "NON_RETRYABLE",
        )
        assert message["nextAttemptDate"] is None
    assert "unsubscribed" in (await read(api_on_clock, out))["failureCause"]
    assert peer.at("/out") == []
    assert (await read(api_on_clock, kept))["state"] == "SENT", "an opt-out takes nothing from the limit"

    listed = (await api_on_clock.get("/api/suppressions", params={"limit": 1})).json()
    assert listed["total"] == 2 and len(listed["entries"]) == 1
    assert (await api_on_clock.delete(f"/api/suppressions/{entry['id']}")).status_code == 204
    assert (await api_on_clock.delete("/api/suppressions/ann@EXAMPLE.com")).status_code == 204
    gone = await api_on_clock.delete("/api/suppressions/ann@example.com")
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "NOT_FOUND"
    assert (await api_on_clock.get("/api/suppressions")).json()["total"] == 0
    actions = [e["action"] for e in (await api_on_clock.get("/api/audit")).json()["entries"]]
    assert actions.count("suppressions.add") == 2 and actions.count("suppressions.remove") == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"dailyLimits": {"SMS": -1}}, ["dailyLimits.SMS"]),
        ({"dailyLimits": {"FAX": 3, "EMAIL": 2.5}}, ["dailyLimits.FAX", "dailyLimits.EMAIL"]),
        ({"dailyLimits": {"PUSH": True, "SMS": "10"}}, ["dailyLimits.PUSH", "dailyLimits.SMS"]),
        ({"dailyLimits": [1, 2]}, ["dailyLimits"]),
        ({"limits": {"SMS": 1}}, ["limits", "dailyLimits"]),
        ({"dailyLimits": {"SMS": 2**31}}, ["dailyLimits.SMS"]),
    ],
)
async def test_bad_limits_are_refused_naming_the_field_and_change_nothing(
    api: httpx.AsyncClient, body: dict[str, Any], fields: list[str]
) -> None:
    before = await set_limits(api, SMS=5)
    response = await api.put("/api/settings/limits", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == fields
    assert (await api.get("/api/settings/limits")).json()["dailyLimits"] == before["dailyLimits"]
    actions = [e["action"] for e in (await api.get("/api/audit")).json()["entries"]]
    assert actions.count("settings.limits") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"destination": ""}, "destination"),
        ({"destination": "a@b.c", "channel": "FAX"}, "channel"),
        ({"destination": "a@b.c", "reason": "x" * 501}, "reason"),
        ({"channel": "SMS"}, "destination"),
        ({"destination": "a@b.c", "extra": 1}, "extra"),
    ],
)
async def test_bad_suppressions_are_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/api/suppressions", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert (await api.get("/api/suppressions")).json()["total"] == 0


async def test_agents_read_limits_and_suppressions_but_only_managers_of_settings_change_them(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post("/api/keys", json={"name": "support", "role": "agent"})
    agent = {"apiKey": created.json()["key"]}
    assert (await api.get("/api/settings/limits", headers=agent)).status_code == 200
    assert (await api.get("/api/suppressions", headers=agent)).status_code == 200
    refused = await api.put("/api/settings/limits", headers=agent, json={"dailyLimits": {"SMS": 1}})
    assert refused.status_code == 403
    assert (await api.post("/api/suppressions", headers=agent, json={"destination": "a@b.c"})).status_code == 403
    assert (await api.get("/api/settings/limits")).json()["dailyLimits"]["SMS"] is None


def test_the_pure_rules() -> None:
    lisbon = zone_named("Europe/Lisbon")
    # The night summer time begins (29 March 2026) still resets at the local midnight.
    assert next_reset(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), lisbon) == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert next_reset(datetime(2026, 3, 29, 12, 0, tzinfo=UTC), lisbon) == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)
    assert zone_named("Not/AZone") is UTC
    assert (grant(None, 10, 3), grant(5, 3, 4), grant(5, 6, 1), grant(0, 0, 2)) == (3, 2, 0, 0)
    assert suppression_key(" Ann@Example.COM ") == "ann@example.com"
    assert suppression_key("https://Example.com/Hook") == "https://Example.com/Hook"
    limits, problems = parse_daily_limits({"SMS": 0, "EMAIL": None})
    assert problems == [] and limits["SMS"] == 0 and limits["WEB_HOOK"] is None
    policy, now = RetryPolicy(), datetime(2026, 3, 2, tzinfo=UTC)
    business = FailureCategory.BUSINESS_LOGIC
    assert sweep_eligible(policy, business, 0, now, now, "DAILY_LIMIT_REACHED")
    assert not sweep_eligible(policy, business, 0, now, now, "PUSH_QUOTA_EXCEEDED")
    assert retry_status(policy, business.value, 0, False, "DAILY_LIMIT_REACHED") is RetryStatus.SWEEP_PENDING
    assert retry_status(policy, business.value, 0, False, "OTHER") is RetryStatus.NOT_RETRYABLE


async def test_a_message_held_for_a_busy_destination_is_checked_again_when_it_goes(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer
) -> None:
    """An opt-out that comes while a claimed message waits for a slot at its destination stops it,
    though the claim found no list in its workspace."""
    peer.script("/busy", hang(0.4))
    first, second = await queue_webhooks(engine, peer.url("/busy"), 2, utc_now())
    runner = WorkerWith(engine, settings, utc_now, destination_concurrency=1)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.worker.run(stop))
    try:
        await asyncio.wait_for(peer.arrived.wait(), timeout=5)
        assert [len(held) for held in runner.worker._held.values()] == [1], "one in flight, one held"
        workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, utc_now())
        async with engine.begin() as conn:
            await suppressions.add(conn, workspace.id, peer.url("/busy"), None, "unsubscribed", "test", utc_now())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = await states_of(engine, [first, second])
            if sum(count for (state, _), count in states.items() if state in ("SENT", "FAILED")) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        await runner.close()
    async with engine.connect() as conn:
        found = {key: await get_message(conn, workspace.id, key) for key in (first, second)}
    assert (found[first].state, found[second].state) == ("SENT", "FAILED")
    assert found[second].failure_reason == "RECIPIENT_OPTED_OUT"
    assert len(peer.at("/busy")) == 1, "the held message was not sent"
