"""Seed 002's status update: marking a log entry `reprocessing` sends it again from its stored input."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState
from commlog.worker.worker import Worker

from .factories import children, message_count, stored_message, workspace_id
from .peers import HttpPeer, status
from .test_resend import failed_webhook


async def test_marking_reprocessing_sends_again_from_the_input_and_the_log_shows_it(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker
) -> None:
    peer.script("/orders/O9", status(200, "ok"))
    peer.script("/down", status(500))
    stored_input = {"destination": peer.url("/orders/{{order}}"), "body": "order {{order}}", "data": {"order": "O9"}}
    original = await failed_webhook(
        api_on_clock, worker, peer.url("/down"), body="old", input=stored_input, productTag="shop", env="prd"
    )

    response = await api_on_clock.patch(f"/api/notifications/messages/{original}", json={"status": "reprocessing"})
    assert response.status_code == 202, response.text
    entry = response.json()
    assert (entry["status"], entry["product_tag"], entry["env"], entry["input"]) == (
        "reprocessing",
        "shop",
        "prd",
        stored_input,
    )
    log = (await api_on_clock.get("/api/notifications/messages", params={"status": "reprocessing"})).json()
    assert [item["_id"] for item in log["items"]] == [entry["_id"]]

    await worker.run_once()
    [delivered] = peer.at("/orders/O9")
    assert delivered.body == "order O9"
    sent = (await api_on_clock.get("/api/notifications/messages", params={"status": "sent"})).json()
    assert [item["_id"] for item in sent["items"]] == [entry["_id"]]
    failed = (await api_on_clock.get("/api/notifications/messages", params={"status": "failed"})).json()
    assert [item["_id"] for item in failed["items"]] == [original]


async def test_other_statuses_and_bad_updates_are_refused_and_change_nothing(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    key = await stored_message(engine, await workspace_id(engine, clock.now), clock.now, MessageState.FAILED)
    before = await message_count(engine)
    cases = [
        (key, {"status": "sent"}, 422, "status", "set by delivery"),
        (key, {"status": "done"}, 422, "status", "reprocessing"),
        (key, {}, 422, "status", "required"),
        (key, {"status": "reprocessing", "colour": 1}, 422, "colour", "not a known field"),
        (key, {"status": "reprocessing"}, 422, "encodedKey", "no stored input"),
        ("nope", {"status": "reprocessing"}, 422, "encodedKey", "not an encoded key"),
        ("f" * 32, {"status": "reprocessing"}, 404, "encodedKey", "f" * 32),
    ]
    for target, body, code, field, words in cases:
        response = await api.patch(f"/api/notifications/messages/{target}", json=body)
        assert response.status_code == code, (body, response.text)
        [error] = response.json()["errors"]
        assert field in error["field"] and words in error["message"], (body, response.text)
    assert await message_count(engine) == before
    assert await children(engine, key) == []
