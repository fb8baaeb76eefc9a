"""What operators watch, read from the log itself: messages by state and type, and the due queue.

Each is one grouped query over the whole database (all workspaces), cheap enough to run on a scrape:
the messages by state and type come from the counts PostgreSQL keeps (`store.counts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.store.counts import by_type_and_state
from commlog.store.tables import messages


@dataclass(frozen=True, slots=True)
class QueueDepth:
    #: Messages a worker may claim now: `next_attempt_at` has passed (final messages have none;
    #: a SENDING_ASYNC message whose lease ran out counts, as the queue would claim it again).
    due: int
    #: Seconds the oldest due message has been due; 0 when none is.
    oldest_due_seconds: float


async def messages_by_state_and_type(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    return {(state, kind): n for (kind, state), n in (await by_type_and_state(conn)).items()}


async def queue_depth(conn: AsyncConnection, now: datetime) -> QueueDepth:
    query = select(func.count(), func.min(messages.c.next_attempt_at)).where(messages.c.next_attempt_at <= now)
    count, oldest = (await conn.execute(query)).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return QueueDepth(int(count), age)
