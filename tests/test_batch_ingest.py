"""Batch ingest as the store writes it: every column and every `message.created` event as the
row-by-row path wrote them (PostgreSQL now writes a batch and its events in one statement over
arrays), replays adding nothing, and narrow answers still pairing each row with its request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.api.schemas import BatchAcceptedOut
from commlog.domain.keys import new_key
from commlog.domain.states import Trigger
from commlog.store.messages import insert_messages, new_message_row
from commlog.store.tables import events, messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace

HOOK = {"type": "WEB_HOOK", "destination": "https://example.com/hook", "body": '{"loan": 1}'}
T0 = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


async def _events(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(events).order_by(events.c.id)))


async def _stored(engine: AsyncEngine, keys: list[str]) -> dict[str, Any]:
    async with engine.connect() as conn:
        found = await conn.execute(select(messages).where(messages.c.encoded_key.in_(keys)))
        return {row.encoded_key: row for row in found}


async def test_a_batch_writes_one_created_event_per_new_message_in_batch_order(
    api: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    items = [
        {**HOOK, "event": "LOAN_CREATED", "headers": {"X-Tenant": "acme"}, "input": {"amount": 12.5}},
        {**HOOK, "body": "no event"},
        {"type": "EMAIL", "destination": "ana@example.com", "body": "hi", "subject": "Hello", "event": "É ünïcode"},
        {"type": "SMS", "destination": "+14155550100", "body": "code 1234", "idempotencyKey": "own-key"},
    ]
    first = await api.post("/api/messages:batch", json={"messages": items}, headers={"Idempotency-Key": "b7"})
    assert first.status_code == 202, first.text
    answered = first.json()["messages"]
    keys = [m["encodedKey"] for m in answered]
    assert [m["idempotencyKey"] for m in answered] == ["b7:0", "b7:1", "b7:2", "own-key"]

    written = await _events(engine)
    assert [e.message_key for e in written] == keys, "one event per message, in the batch's order"
    stored = await _stored(engine, keys)
    for event, item, key in zip(written, items, keys, strict=True):
        assert event.kind == "message.created"
        assert event.message_type == item["type"]
        assert event.workspace_id == stored[key].workspace_id
        assert event.subscriber is None
        assert event.created_at == stored[key].creation_date
        assert event.payload == {
            "state": "QUEUED",
            "destination": item["destination"],
            "event": item.get("event"),
            "origin": "FIRST_SEND",
            "parentKey": None,
        }
    assert stored[keys[0]].headers == {"X-Tenant": "acme"}
    assert stored[keys[0]].input == {"amount": 12.5}
    assert stored[keys[1]].headers is None and stored[keys[1]].input is None
    assert stored[keys[2]].subject == "Hello" and stored[keys[2]].event == "É ünïcode"
    assert answered[0]["headers"] == {"X-Tenant": "acme"} and answered[0]["input"] == {"amount": 12.5}

    again = await api.post(
        "/api/messages:batch",
        json={"messages": [*items, {**HOOK, "body": "new"}]},
        headers={"Idempotency-Key": "b7", "Prefer": "return=minimal"},
    )
    assert again.status_code == 202, again.text
    as_modelled = BatchAcceptedOut.model_validate_json(again.content).model_dump_json(by_alias=True)
    assert again.content == as_modelled.encode(), "the minimal answer is BatchAcceptedOut's JSON exactly"
    replayed = again.json()["messages"]
    assert [m["encodedKey"] for m in replayed[:4]] == keys
    assert [m["replayed"] for m in replayed] == [True, True, True, True, False]
    later = await _events(engine)
    assert [e.message_key for e in later] == [*keys, replayed[4]["encodedKey"]], "a replay writes no event"


async def test_a_refused_batch_writes_no_event(api: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await api.post("/api/messages:batch", json={"messages": [HOOK, {**HOOK, "destination": "ftp://x"}]})
    assert response.status_code == 422
    assert await _events(engine) == []


async def test_the_store_keeps_origin_and_parent_in_the_event_and_answers_narrow_rows(engine: AsyncEngine) -> None:
    workspace = (await ensure_workspace(engine, DEFAULT_WORKSPACE, T0)).id
    parent = new_key()
    rows = [
        new_message_row(workspace, {**HOOK, "idempotency_key": "k1", "input": {"n": [1, "é"]}}, T0),
        new_message_row(
            workspace,
            {**HOOK, "parent_key": parent, "sender_key": "ana", "input": {"n": [1, "é"]}},
            T0,
            Trigger.REPROCESS,
        ),
    ]
    rows[0].update(origin="FIRST_SEND", root_key=None)
    rows[1].update(origin="REPROCESS", root_key=parent)
    async with engine.begin() as conn:
        stored = await insert_messages(conn, rows, columns=("state",))
    assert [(row.encoded_key, row.state, created) for row, created in stored] == [
        (rows[0]["encoded_key"], "QUEUED", True),
        (rows[1]["encoded_key"], "QUEUED", True),
    ]
    assert stored[0][0].idempotency_key == "k1"
    written = await _events(engine)
    assert [e.payload for e in written] == [
        {
            "state": "QUEUED",
            "destination": HOOK["destination"],
            "event": None,
            "origin": "FIRST_SEND",
            "parentKey": None,
        },
        {
            "state": "QUEUED",
            "destination": HOOK["destination"],
            "event": None,
            "origin": "REPROCESS",
            "parentKey": parent,
        },
    ]
    assert all(e.created_at == T0 for e in written)
    row = (await _stored(engine, [rows[1]["encoded_key"]]))[rows[1]["encoded_key"]]
    assert (row.trigger, row.origin, row.root_key, row.sender_key, row.creation_date, row.input) == (
        "REPROCESS",
        "REPROCESS",
        parent,
        "ana",
        T0,
        {"n": [1, "é"]},
    )

    replay = new_message_row(workspace, {**HOOK, "body": "other", "idempotency_key": "k1"}, T0)
    async with engine.begin() as conn:
        [(original, created)] = await insert_messages(conn, [replay], columns=("state",))
    assert (original.encoded_key, original.state, created) == (rows[0]["encoded_key"], "QUEUED", False)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(events)) == 2


async def test_a_naive_time_is_refused_as_the_column_type_refuses_it(engine: AsyncEngine) -> None:
    workspace = (await ensure_workspace(engine, DEFAULT_WORKSPACE, T0)).id
    rows = [new_message_row(workspace, {**HOOK, "body": str(i)}, T0.replace(tzinfo=None)) for i in range(2)]
    with pytest.raises(Exception, match="naive datetime"):
        async with engine.begin() as conn:
            await insert_messages(conn, rows)
    assert await _events(engine) == []
