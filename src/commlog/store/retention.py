"""Purging messages that have outlived their workspace's retention, in batches, with what refers to them.

Only final messages go (no `next_attempt_at`: SENT, or FAILED and not queued again by a sweep), so a
purge never pulls a message from under a worker. Each batch is one transaction that first marks its
rows (a write, so SQLite takes the write lock at once and PostgreSQL skips rows another purge holds),
then removes every row of any table with a `message_key` column (attempts, events, acknowledgements,
and whatever later features add), then the messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commlog.domain.retention import purge_cutoff
from commlog.store.tables import attempts, messages, metadata, workspaces

#: Messages removed per transaction: short locks, bounded memory.
PURGE_BATCH = 1000


@dataclass
class Purged:
    """What a purge removed (or, in a dry run, would remove) from one workspace."""

    workspace_id: str
    retention_days: int | None
    dry_run: bool
    messages: int = 0
    #: Rows removed from other tables, by table name (attempts first among them).
    related: Counter[str] = field(default_factory=Counter)

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
    """Every table that names messages by `message_key`, attempts first."""
    found = [t for t in metadata.sorted_tables if "message_key" in t.c and t is not attempts]
    return [attempts, *found]


async def purge_workspace(
    engine: AsyncEngine, workspace_id: str, now: datetime, *, dry_run: bool = False, batch: int = PURGE_BATCH
) -> Purged:
    """Remove (or with `dry_run` count) the workspace's final messages older than its retention."""
    async with engine.connect() as conn:
        days = await retention_days(conn, workspace_id)
    result = Purged(workspace_id, days, dry_run)
    if days is None:
        return result
    expired = _expired(workspace_id, purge_cutoff(now, days))
    if dry_run:
        async with engine.connect() as conn:
            result.messages = int((await conn.execute(select(func.count()).where(expired))).scalar_one())
            chosen = select(messages.c.encoded_key).where(expired)
            counted = select(func.count()).select_from(attempts).where(attempts.c.message_key.in_(chosen))
            result.related[attempts.name] = int((await conn.execute(counted)).scalar_one())
        return result
    while True:
        async with engine.begin() as conn:
            chosen = (
                select(messages.c.encoded_key)
                .where(expired)
                .order_by(messages.c.creation_date)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            mark = (
                update(messages)
                .where(messages.c.encoded_key.in_(chosen.scalar_subquery()), expired)
                .values(updated_at=messages.c.updated_at)
                .returning(messages.c.encoded_key)
            )
            keys = list((await conn.execute(mark)).scalars())
            if not keys:
                return result
            for table in _referring_tables():
                gone = await conn.execute(table.delete().where(table.c.message_key.in_(keys)))
                result.related[table.name] += gone.rowcount
            gone = await conn.execute(messages.delete().where(messages.c.encoded_key.in_(keys)))
            result.messages += gone.rowcount
        if len(keys) < batch:
            return result
