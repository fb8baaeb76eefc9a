"""The workspace's time zone: set through the API, it decides which days TODAY and friends mean."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState

from .factories import stored_message, workspace_id

TODAY = [{"field": "creationDate", "operator": "TODAY"}]


async def test_the_time_zone_decides_what_today_means(
    api_on_clock: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    # 09:00 UTC on 2 March is 22:00 in Auckland; 11:30 UTC on 1 March was 00:30 on 2 March there.
    ws = await workspace_id(engine, clock.now)
    auckland_today = await stored_message(engine, ws, clock.now - timedelta(hours=21, minutes=30), MessageState.SENT)
    assert (await api_on_clock.get("/api/settings/workspace")).json() == {"name": "default", "timeZone": "UTC"}
    utc = (await api_on_clock.post("/api/communications/messages:search", json=TODAY)).json()
    assert auckland_today not in [m["encodedKey"] for m in utc]

    response = await api_on_clock.put("/api/settings/workspace", json={"timeZone": "Pacific/Auckland"})
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "default", "timeZone": "Pacific/Auckland"}
    auckland = (await api_on_clock.post("/api/communications/messages:search", json=TODAY)).json()
    assert [m["encodedKey"] for m in auckland] == [auckland_today]


async def test_a_bad_time_zone_is_refused_and_nothing_changes(api: httpx.AsyncClient) -> None:
    for body, field, words in (
        ({"timeZone": "Mars/Olympus"}, "timeZone", "not an IANA time zone"),
        ({"timeZone": "../../etc/passwd"}, "timeZone", "not an IANA time zone"),
        ({"timeZone": ""}, "timeZone", "not an IANA time zone"),
        ({}, "timeZone", "required"),
        ({"timeZone": "UTC", "name": "other"}, "name", "not a known field"),
    ):
        response = await api.put("/api/settings/workspace", json=body)
        assert response.status_code == 422, (body, response.text)
        [error] = response.json()["errors"]
        assert (error["field"], words in error["message"]) == (field, True), (body, response.text)
    assert (await api.get("/api/settings/workspace")).json()["timeZone"] == "UTC"


async def test_an_agent_reads_the_time_zone_but_cannot_change_it(api: httpx.AsyncClient) -> None:
    agent = (await api.post("/api/keys", json={"name": "desk", "role": "agent"})).json()["key"]
    assert (await api.get("/api/settings/workspace", headers={"apiKey": agent})).status_code == 200
    refused = await api.put("/api/settings/workspace", json={"timeZone": "Europe/Lisbon"}, headers={"apiKey": agent})
    assert refused.status_code == 403
