"""How many messages match the log's filter, counted only up to a cap: an exact count of millions
of rows costs a scan, and the page only needs to say "more than 10,000". A filter on type and state
alone has its exact number in the kept counts (`store.counts`), capped the same way."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.filters import Filter
from commlog.store.counts import kept_total
from commlog.store.search import where
from commlog.store.tables import messages


async def capped_count(
    conn: AsyncConnection, workspace_id: str, filter_: Filter, now: datetime, zone: tzinfo, cap: int
) -> int:
    """The number of matches, or `cap + 1` when there are more than `cap`."""
    kept = await kept_total(conn, workspace_id, filter_.predicates(now, zone))
    if kept is not None:
        return min(kept, cap + 1)
    matches = (
        select(literal(1)).select_from(messages).where(*where(workspace_id, filter_, now, zone)).limit(cap + 1)
    ).subquery()
    return int((await conn.execute(select(func.count()).select_from(matches))).scalar_one())
