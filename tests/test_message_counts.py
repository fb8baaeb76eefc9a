"""PostgreSQL keeps each workspace's number of messages per type and state (migration 0011) through
every statement that changes them: submit, claim, delivery, retry, resend, delete. Search totals on
type and state alone are read from those counts, and the worker folds the rows they append.
SQLite keeps none and counts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from alembic import command
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.store.counts import fold
from commlog.store.database import alembic_config, migrate
from commlog.store.operations import messages_by_state_and_type
from commlog.store.tables import message_counts, messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace
from commlog.worker.worker import Worker

from .peers import HttpPeer, status
from .search_data import store
from .test_delivery import submit

V2 = "/api/communications/messages:search"
Group = tuple[str, str, str]


@pytest.fixture
def postgres(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps no counts")


async def kept(engine: AsyncEngine) -> dict[Group, int]:
    c = message_counts.c
    query = select(c.workspace_id, c.type, c.state, func.sum(c.n)).group_by(c.workspace_id, c.type, c.state)
    async with engine.connect() as conn:
        return {(ws, kind, state): int(n) for ws, kind, state, n in await conn.execute(query) if n}


async def counted(engine: AsyncEngine) -> dict[Group, int]:
    m = messages.c
    query = select(m.workspace_id, m.type, m.state, func.count()).group_by(m.workspace_id, m.type, m.state)
    async with engine.connect() as conn:
        return {(ws, kind, state): int(n) for ws, kind, state, n in await conn.execute(query)}


async def by_state(engine: AsyncEngine) -> dict[str, int]:
    return {state: n for (_, _, state), n in (await kept(engine)).items()}


@pytest.mark.usefixtures("postgres")
async def test_counts_follow_submit_delivery_retry_resend_and_delete(
    api_on_clock: httpx.AsyncClient, peer: HttpPeer, worker: Worker, clock: FakeClock, engine: AsyncEngine
) -> None:
    peer.script("/down", status(503), status(503), status(503))
    sent = [await submit(api_on_clock, peer.url("/up")) for _ in range(3)]
    failing = [await submit(api_on_clock, peer.url("/down")) for _ in range(2)]
    batch = [{"type": "WEB_HOOK", "destination": peer.url("/up"), "body": "{}"} for _ in range(4)]
    assert (await api_on_clock.post("/api/messages:batch", json={"messages": batch})).status_code == 202
    assert await by_state(engine) == {"QUEUED": 9}

    clock.advance(0.5)
    assert await worker.run_once() == 9
    assert await by_state(engine) == {"SENT": 7, "WAITING": 2}
    assert await kept(engine) == await counted(engine)

    clock.advance(3600)  # every retry is due: they fail again and wait again
    assert await worker.run_once() == 2
    assert await by_state(engine) == {"SENT": 7, "WAITING": 2}

    async with engine.begin() as conn:  # any statement counts, not only the product's own
        await conn.execute(delete(messages).where(messages.c.encoded_key.in_(sent[1:])))
        await conn.execute(update(messages).where(messages.c.state == "WAITING").values(state="FAILED"))
    assert await by_state(engine) == {"SENT": 5, "FAILED": 2}

    assert (await api_on_clock.post(f"/api/messages/{failing[0]}:resend")).status_code == 202
    assert await by_state(engine) == {"SENT": 5, "FAILED": 2, "QUEUED": 1}
    assert await kept(engine) == await counted(engine)
    async with engine.connect() as conn:
        assert await messages_by_state_and_type(conn) == {
            ("SENT", "WEB_HOOK"): 5,
            ("FAILED", "WEB_HOOK"): 2,
            ("QUEUED", "WEB_HOOK"): 1,
        }


@pytest.mark.usefixtures("postgres")
async def test_folding_leaves_one_row_per_group_and_the_same_numbers(engine: AsyncEngine, clock: FakeClock) -> None:
    for minute in range(6):
        await store(engine, clock.now - timedelta(minutes=minute), state="SENT" if minute % 2 else "FAILED")
    async with engine.begin() as conn:
        await conn.execute(update(messages).where(messages.c.state == "FAILED").values(state="QUEUED"))
    before = await kept(engine)
    async with engine.begin() as conn:
        await fold(conn)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(message_counts))).scalar_one()
    assert await kept(engine) == before == await counted(engine)
    assert rows == 2


async def test_totals_on_type_and_state_come_from_the_counts(
    api: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock
) -> None:
    for minute in range(5):
        await store(engine, clock.now - timedelta(minutes=minute), state="FAILED" if minute < 3 else "SENT")
    failed = [{"field": "state", "operator": "EQUALS", "value": "FAILED"}]
    on_destination = [*failed, {"field": "destination", "operator": "STARTS_WITH", "value": "https"}]

    async def total(criteria: list[dict[str, str]]) -> str:
        response = await api.post(V2, json={"filterCriteria": criteria}, params={"paginationDetails": "ON"})
        assert response.status_code == 200, response.text
        return response.headers["Items-Total"]

    async def log_total(**params: str) -> int:
        return int((await api.get("/api/notifications/messages", params=params)).json()["total"])

    assert (await total(failed), await total(on_destination), await log_total(status="failed")) == ("3", "3", 3)
    # On PostgreSQL the counts are what the first answers read: a count that is off shows in them, not
    # in a COUNT. SQLite counts the messages.
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    async with engine.begin() as conn:
        await conn.execute(
            insert(message_counts).values(workspace_id=workspace.id, type="WEB_HOOK", state="FAILED", n=10)
        )
    kept = engine.dialect.name == "postgresql"
    expected = ("13", "3", 13) if kept else ("3", "3", 3)
    assert (await total(failed), await total(on_destination), await log_total(status="failed")) == expected


@pytest.mark.usefixtures("postgres")
async def test_the_migration_counts_the_messages_already_there(
    engine: AsyncEngine, database_url: str, clock: FakeClock
) -> None:
    await engine.dispose()  # the migration locks the table: no pooled connection may hold it
    # Alembic runs its own event loop: in a thread of its own.
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0010_partial_indexes")
    try:
        for minute in range(4):
            await store(engine, clock.now - timedelta(minutes=minute), state="SENT" if minute else "FAILED")
    finally:
        await engine.dispose()
        await asyncio.to_thread(migrate, database_url)
    assert await kept(engine) == await counted(engine) != {}


@pytest.mark.usefixtures("postgres")
async def test_a_truncate_empties_the_counts(engine: AsyncEngine, clock: FakeClock) -> None:
    await store(engine, clock.now, state="SENT")
    assert await kept(engine) != {}
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE messages CASCADE"))
    assert await kept(engine) == {}
