"""The same idempotency key sent at once from 20 clients creates one message."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.store.tables import messages

from ..conftest import ADMIN_API_KEY


async def test_twenty_concurrent_submits_with_one_key_create_one_message(make_api: Any, engine: AsyncEngine) -> None:
    async with make_api() as api:
        base = api.base_url
    message = {"type": "WEB_HOOK", "destination": "https://example.com/h", "body": '{"order": 7}'}
    clients = [httpx.AsyncClient(base_url=base, headers={"apiKey": ADMIN_API_KEY}, timeout=30) for _ in range(20)]
    start = asyncio.Event()

    async def submit(client: httpx.AsyncClient) -> httpx.Response:
        await start.wait()
        return await client.post("/api/messages", json=message, headers={"Idempotency-Key": "order-7"})

    try:
        tasks = [asyncio.create_task(submit(client)) for client in clients]
        start.set()
        responses = await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [202], statuses
    assert len({r.json()["encodedKey"] for r in responses}) == 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar_one() == 1
