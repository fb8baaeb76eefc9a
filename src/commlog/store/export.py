"""Reading the log for an export: every message a filter matches, in batches by keyset cursor.

Each batch is one indexed query that resumes after the last row of the one before (the search's own
cursor), so an export of millions of rows holds one batch in memory at a time and never pages by
OFFSET. Only the columns an export shows are read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.export import ATTRIBUTES
from commlog.domain.filters import Filter
from commlog.store.search import Page, search_messages

#: Rows read per query: large enough that round trips do not dominate, small enough to hold.
BATCH = 2_000


async def export_batches(
    conn: AsyncConnection,
    workspace_id: str,
    filter_: Filter,
    now: datetime,
    zone: tzinfo,
    batch: int = BATCH,
) -> AsyncIterator[Sequence[Any]]:
    """The workspace's messages matching `filter_` in its order, `batch` rows at a time.

    `filter_`'s sort must be on a field every message has (the search's cursor needs one)."""
    page = Page(limit=batch)
    while True:
        result = await search_messages(conn, workspace_id, filter_, now, zone, page, columns=ATTRIBUTES)
        if result.rows:
            yield result.rows
        if result.next_cursor is None:
            return
        page = replace(page, cursor=result.next_cursor)


async def count_matches(conn: AsyncConnection, workspace_id: str, filter_: Filter, now: datetime, zone: tzinfo) -> int:
    """How many messages an export of `filter_` will hold (for a progress bar)."""
    result = await search_messages(
        conn, workspace_id, filter_, now, zone, Page(limit=1), with_total=True, columns=ATTRIBUTES
    )
    return result.total or 0
