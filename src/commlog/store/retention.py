"""Purging messages that have outlived their workspace's retention, in batches, with what refers to them.

Only final messages go (no `next_attempt_at`: SENT, or FAILED and not queued again by a sweep), so a
purge never pulls a message from under a worker. Each batch is one transaction that first marks its
rows (a write, so SQLite takes the write lock at once and PostgreSQL skips rows another purge holds),
then removes every row of any table with a `message_key` column (attempts, acknowledgements, and
whatever later features add), then the messages.

The stream's events go by their own age rather than by message: `events` has no index on
`message_key` (it would cost every recorded attempt a write), so deleting them per message read the
whole table for every batch (1.3 s a batch at 3 million events). Their ids follow time, so the oldest
are walked by primary key from the start, a batch at a time (4 ms a batch). The daily limits' counters
(`daily_sends`) of days older than the retention go too.

Workers run the purge by themselves (`purge_due`, from the worker's sweep check): once a day per
workspace, the turn taken by one worker of many, and at most `PURGE_TIME_LIMIT` seconds per turn so
that claiming pauses only briefly; a purge cut short hands its turn back for the next check.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commlog.domain.retention import purge_cutoff
from commlog.store.database import chosen_once
from commlog.store.tables import attempts, daily_sends, events, messages, metadata, workspaces

#: Messages (or events) removed per transaction: short locks, bounded memory.
PURGE_BATCH = 1000
#: How often each workspace's purge runs by itself in the workers.
PURGE_INTERVAL = timedelta(days=1)
#: Longest a worker purges per turn (it does not claim meanwhile); the rest waits for the next check.
PURGE_TIME_LIMIT = 1.0


@dataclass
class Purged:
    """What a purge removed (or, in a dry run, would remove) from one workspace."""

    workspace_id: str
    retention_days: int | None
    dry_run: bool
    messages: int = 0
    #: Rows removed from other tables, by table name (attempts first among them).
    related: Counter[str] = field(default_factory=Counter)
    #: False when a time limit cut the purge short and older rows are left for the next turn.
    complete: bool = True

    @property
    def attempts(self) -> int:
        return self.related[attempts.name]


async def retention_days(conn: AsyncConnection, workspace_id: str) -> int | None:
    query = select(workspaces.c.retention_days).where(workspaces.c.id == workspace_id)
    value = (await conn.execute(query)).scalar_one_or_none()
    return None if value is None else int(value)


async def set_retention_days(conn: AsyncConnection, workspace_id: str, days: int | None) -> None:
    await conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(retention_days=days))


def _expired(workspace_id: str, cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        messages.c.workspace_id == workspace_id,
        messages.c.creation_date < cutoff,
        messages.c.next_attempt_at.is_(None),
    )


def _referring_tables() -> list[Table]:
    """Every table that names messages by `message_key`, attempts first; events go by age instead."""
    found = [t for t in metadata.sorted_tables if "message_key" in t.c and t not in (attempts, events)]
    return [attempts, *found]


def _old_days(workspace_id: str, cutoff: datetime) -> ColumnElement[bool]:
    """Daily counters of days before the cutoff, in any time zone (a day's margin: days are local)."""
    before = (cutoff - timedelta(days=1)).date().isoformat()
    return and_(daily_sends.c.workspace_id == workspace_id, daily_sends.c.day < before)


async def purge_workspace(
    engine: AsyncEngine,
    workspace_id: str,
    now: datetime,
    *,
    dry_run: bool = False,
    batch: int = PURGE_BATCH,
    time_limit: float | None = None,
) -> Purged:
    """Remove (or with `dry_run` count) the workspace's final messages older than its retention, their
    rows elsewhere, its older events and daily counters; with `time_limit` (seconds), stop after the
    batch that passes it and say so (`complete` False)."""
    async with engine.connect() as conn:
        days = await retention_days(conn, workspace_id)
    result = Purged(workspace_id, days, dry_run)
    if days is None:
        return result
    cutoff = purge_cutoff(now, days)
    expired = _expired(workspace_id, cutoff)
    if dry_run:
        async with engine.connect() as conn:
            result.messages = int((await conn.execute(select(func.count()).where(expired))).scalar_one())
            chosen = select(messages.c.encoded_key).where(expired)
            counted = select(func.count()).select_from(attempts).where(attempts.c.message_key.in_(chosen))
            result.related[attempts.name] = int((await conn.execute(counted)).scalar_one())
            old_events = and_(events.c.workspace_id == workspace_id, events.c.created_at < cutoff)
            result.related[events.name] = int((await conn.execute(select(func.count()).where(old_events))).scalar_one())
            old_days = select(func.count()).where(_old_days(workspace_id, cutoff))
            result.related[daily_sends.name] = int((await conn.execute(old_days)).scalar_one())
        return result
    deadline = None if time_limit is None else time.monotonic() + time_limit

    def out_of_time() -> bool:
        result.complete = deadline is None or time.monotonic() < deadline
        return not result.complete

    while await _purge_messages(engine, workspace_id, cutoff, batch, result):
        if out_of_time():
            return result
    more, after = True, 0
    while more:
        more, after = await _purge_events(engine, workspace_id, cutoff, batch, after, result)
        if more and out_of_time():
            return result
    async with engine.begin() as conn:
        gone = await conn.execute(daily_sends.delete().where(_old_days(workspace_id, cutoff)))
        result.related[daily_sends.name] += gone.rowcount
    return result


async def _purge_messages(engine: AsyncEngine, workspace_id: str, cutoff: datetime, batch: int, result: Purged) -> bool:
    """One batch of expired messages with their rows elsewhere; whether there may be more."""
    expired = _expired(workspace_id, cutoff)
    async with engine.begin() as conn:
        oldest = (
            select(messages.c.encoded_key)
            .where(expired)
            .order_by(messages.c.creation_date)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        chosen = chosen_once(oldest, postgres=conn.dialect.name == "postgresql")
        mark = (
            update(messages)
            .where(messages.c.encoded_key.in_(chosen), expired)
            .values(updated_at=messages.c.updated_at)
            .returning(messages.c.encoded_key)
        )
        keys = list((await conn.execute(mark)).scalars())
        if not keys:
            return False
        for table in _referring_tables():
            gone = await conn.execute(table.delete().where(table.c.message_key.in_(keys)))
            result.related[table.name] += gone.rowcount
        gone = await conn.execute(messages.delete().where(messages.c.encoded_key.in_(keys)))
        result.messages += gone.rowcount
    return len(keys) == batch


async def _purge_events(
    engine: AsyncEngine, workspace_id: str, cutoff: datetime, batch: int, after: int, result: Purged
) -> tuple[bool, int]:
    """The workspace's next events after id `after`, those of them older than the cutoff removed;
    whether there may be more old ones, and the id to go on after.

    Events are written in time order, so their ids are too: the walk stops at the first window that
    holds a younger event (one written by a worker whose clock runs a little behind may wait a day).
    """
    window = (
        select(events.c.id, events.c.created_at)
        .where(events.c.workspace_id == workspace_id, events.c.id > after)
        .order_by(events.c.id)
        .limit(batch)
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(window)).all()
        old = [row.id for row in rows if row.created_at < cutoff]
        if old:
            await conn.execute(events.delete().where(events.c.id.in_(old)))
    result.related[events.name] += len(old)
    return len(rows) == batch and len(old) == len(rows), rows[-1].id if rows else after


async def take_purge_turns(conn: AsyncConnection, now: datetime, interval: timedelta = PURGE_INTERVAL) -> list[str]:
    """The workspaces (with a retention) whose purge is due, now this caller's turn: one statement, so
    of many workers checking at once each turn goes to exactly one (the others' updates find it taken)."""
    due = or_(workspaces.c.last_purge_at.is_(None), workspaces.c.last_purge_at <= now - interval)
    taken = await conn.execute(
        update(workspaces)
        .where(workspaces.c.retention_days.is_not(None), due)
        .values(last_purge_at=now)
        .returning(workspaces.c.id)
    )
    return sorted(taken.scalars())


async def purge_due(
    engine: AsyncEngine,
    now: datetime,
    *,
    interval: timedelta = PURGE_INTERVAL,
    time_limit: float = PURGE_TIME_LIMIT,
    batch: int = PURGE_BATCH,
) -> list[Purged]:
    """Purge every workspace whose daily turn this caller takes, within `time_limit` seconds in all.

    A purge cut short (or not begun) for lack of time hands its turn back, so the next check, by this
    worker or another, goes on with it.
    """
    async with engine.begin() as conn:
        turns = await take_purge_turns(conn, now, interval)
    deadline = time.monotonic() + time_limit
    done: list[Purged] = []
    for workspace_id in turns:
        left = deadline - time.monotonic()
        purged = None
        if left > 0 or not done:
            purged = await purge_workspace(engine, workspace_id, now, batch=batch, time_limit=max(left, 0.0))
            done.append(purged)
        if purged is None or not purged.complete:
            async with engine.begin() as conn:
                await conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(last_purge_at=None))
    return done
