"""The worker runs the retention purge by itself: once a day per workspace, one worker of many, in
batches and in short slices, with the events, acknowledgements and daily counters that go with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import FakeClock
from commlog.domain.states import MessageState
from commlog.store.database import create_engine
from commlog.store.retention import purge_due, purge_workspace, set_retention_days
from commlog.store.tables import attempts, daily_sends, events, messages, stream_acks, workspaces
from commlog.store.workspaces import DEFAULT_WORKSPACE, Workspace, create_workspace, ensure_workspace
from commlog.worker.worker import Worker

from .test_operations import _old_messages

DAY = 86_400


async def _count(engine: AsyncEngine, table: object, *where: object) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return int((await conn.execute(query)).scalar_one())


async def _keys(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(messages.c.encoded_key))).scalars())


@pytest.fixture
async def kept_30_days(engine: AsyncEngine, clock: FakeClock) -> Workspace:
    """The default workspace, keeping its messages for 30 days."""
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    async with engine.begin() as conn:
        await set_retention_days(conn, workspace.id, 30)
    return workspace


async def test_the_worker_purges_each_workspace_once_a_day(
    worker: Worker, engine: AsyncEngine, clock: FakeClock, kept_30_days: Workspace
) -> None:
    ws = kept_30_days.id
    async with engine.begin() as conn:
        forever = await create_workspace(conn, "forever", clock.now)
    old = await _old_messages(engine, ws, clock, 5, 40, MessageState.SENT)
    young = await _old_messages(engine, ws, clock, 3, 10, MessageState.SENT)
    waiting = await _old_messages(engine, ws, clock, 1, 45, MessageState.WAITING)
    untouched = await _old_messages(engine, forever.id, clock, 2, 400, MessageState.SENT)
    today = clock.now.date().isoformat()
    long_ago = (clock.now - timedelta(days=40)).date().isoformat()
    async with engine.begin() as conn:
        await conn.execute(
            stream_acks.insert(),
            [
                {"message_key": key, "workspace_id": ws, "acked_at": clock.now, "acked_by": "s"}
                for key in (old[0], young[0])
            ],
        )
        await conn.execute(
            daily_sends.insert(),
            [
                {"workspace_id": ws, "channel": "SMS", "day": long_ago, "used": 9},
                {"workspace_id": ws, "channel": "SMS", "day": today, "used": 3},
                {"workspace_id": forever.id, "channel": "SMS", "day": long_ago, "used": 7},
            ],
        )

    dry = await purge_workspace(engine, ws, clock.now, dry_run=True)
    assert (dry.messages, dry.attempts, dry.related["events"], dry.related["daily_sends"]) == (5, 5, 6, 1)

    await worker.sweep_now()  # the worker's periodic check, on the fake clock

    assert await _keys(engine) == set(young + waiting + untouched)
    assert await _count(engine, attempts) == len(young + waiting + untouched)
    # Events go by their own age: each message's `message.created` is as old as the message, so the
    # old ones' went, and so did the waiting message's (the message itself stays for its retry).
    assert await _count(engine, events, events.c.message_key.in_(old + waiting)) == 0
    assert await _count(engine, events, events.c.message_key.in_(young + untouched)) == 5
    assert await _count(engine, stream_acks) == 1
    async with engine.connect() as conn:
        days = {(w, d) for w, d in await conn.execute(select(daily_sends.c.workspace_id, daily_sends.c.day))}
    assert days == {(ws, today), (forever.id, long_ago)}

    # The turn is taken for a day: messages that grow old meanwhile wait for the next one.
    later = await _old_messages(engine, ws, clock, 2, 31, MessageState.FAILED)
    await worker.sweep_now()
    clock.advance(DAY - 60)
    await worker.sweep_now()
    assert set(later) <= await _keys(engine)
    clock.advance(60)
    await worker.sweep_now()
    assert not set(later) & await _keys(engine)
    assert set(young + waiting + untouched) <= await _keys(engine)


@pytest.fixture
async def second_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Another worker's connections to the same database."""
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def test_of_two_workers_checking_at_once_one_takes_the_turn(
    engine: AsyncEngine, second_engine: AsyncEngine, clock: FakeClock, kept_30_days: Workspace
) -> None:
    old = await _old_messages(engine, kept_30_days.id, clock, 4, 40, MessageState.SENT)
    for _ in range(3):
        first, second = await asyncio.gather(purge_due(engine, clock.now), purge_due(second_engine, clock.now))
        assert sorted([len(first), len(second)]) == [0, 1], "exactly one worker purged the workspace"
        assert (first or second)[0].messages == len(old)
        old = await _old_messages(engine, kept_30_days.id, clock, 4, 40, MessageState.SENT)
        clock.advance(DAY)


async def _last_purge(engine: AsyncEngine, workspace_id: str) -> datetime | None:
    async with engine.connect() as conn:
        found = await conn.execute(select(workspaces.c.last_purge_at).where(workspaces.c.id == workspace_id))
        return found.scalar_one()


async def test_a_purge_cut_short_hands_its_turn_back_and_goes_on(
    engine: AsyncEngine, clock: FakeClock, kept_30_days: Workspace
) -> None:
    ws = kept_30_days.id
    old = await _old_messages(engine, ws, clock, 7, 40, MessageState.SENT)
    young = await _old_messages(engine, ws, clock, 2, 1, MessageState.SENT)
    removed: list[int] = []
    for _ in range(20):
        # No time at all: one batch of two per check, then the turn is handed back.
        (purged,) = await purge_due(engine, clock.now, batch=2, time_limit=0)
        removed.append(purged.messages)
        if purged.complete:
            break
        assert await _last_purge(engine, ws) is None, "due again at the next check"
    assert removed[:4] == [2, 2, 2, 1] and sum(removed) == len(old), removed
    assert await _keys(engine) == set(young)
    assert await _count(engine, events) == len(young), "the old events went, in batches too"
    assert await _last_purge(engine, ws) == clock.now
    assert await purge_due(engine, clock.now, batch=2, time_limit=0) == [], "done for the day"
    clock.advance(DAY)
    (next_day,) = await purge_due(engine, clock.now)
    assert (next_day.messages, next_day.complete) == (0, True)
