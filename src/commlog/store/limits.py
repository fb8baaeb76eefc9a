"""Daily sending limits and the day's counts, kept correct with many workers at once.

A worker takes its share of a day's limit before it sends (`take`): one statement locks every
counter the batch touches (an upsert, so a missing counter is created under the same lock), a
second adds what was granted, both in one transaction; a second worker's take waits for the
first one's commit and sees its count. What was taken but not sent is given back in the
transaction that records the attempts (`give_back`). A worker that dies between the two leaves
its share counted until the day ends: the limit then errs on sending fewer, never more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.limits import grant
from commlog.store.tables import daily_sends, send_limits

#: A counter: workspace, channel, the workspace's day (ISO).
CounterKey = tuple[str, str, str]


async def limits_of(conn: AsyncConnection, workspace_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """Every daily limit of these workspaces, by (workspace, channel); absent = unlimited."""
    if not workspace_ids:
        return {}
    rows = await conn.execute(_LIMITS_OF, {"ids": sorted(set(workspace_ids))})
    return {(row.workspace_id, row.channel): row.daily_limit for row in rows}


#: Built once: it runs for every claimed batch.
_LIMITS_OF = select(send_limits).where(send_limits.c.workspace_id.in_(bindparam("ids", expanding=True)))


async def set_limits(conn: AsyncConnection, workspace_id: str, limits: Mapping[str, int | None]) -> None:
    """Replace the workspace's limits; a channel given None is unlimited."""
    await conn.execute(delete(send_limits).where(send_limits.c.workspace_id == workspace_id))
    rows = [
        {"workspace_id": workspace_id, "channel": channel, "daily_limit": limit}
        for channel, limit in limits.items()
        if limit is not None
    ]
    if rows:
        await conn.execute(send_limits.insert(), rows)


async def used_on(conn: AsyncConnection, workspace_id: str, day: str) -> dict[str, int]:
    """What the workspace sent (or is sending) per channel on its day `day`."""
    rows = await conn.execute(
        select(daily_sends.c.channel, daily_sends.c.used).where(
            daily_sends.c.workspace_id == workspace_id, daily_sends.c.day == day
        )
    )
    return {row.channel: row.used for row in rows}


def _upsert(conn: AsyncConnection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(daily_sends)


async def take(
    conn: AsyncConnection, wanted: Mapping[CounterKey, int], limits: Mapping[CounterKey, int]
) -> dict[CounterKey, int]:
    """Take up to `wanted` sends from each counter under its limit; how many each one granted."""
    if not wanted:
        return {}
    # Sorted, so two workers lock shared counters in the same order and never deadlock.
    keys = sorted(wanted)
    statement = _upsert(conn).values(
        [{"workspace_id": ws, "channel": ch, "day": day, "used": 0} for ws, ch, day in keys]
    )
    # A no-op update that takes the row's lock and answers its count.
    statement = statement.on_conflict_do_update(
        index_elements=["workspace_id", "channel", "day"], set_={"used": daily_sends.c.used}
    ).returning(daily_sends.c.workspace_id, daily_sends.c.channel, daily_sends.c.day, daily_sends.c.used)
    used = {(row.workspace_id, row.channel, row.day): row.used for row in await conn.execute(statement)}
    granted = {key: grant(limits[key], used[key], wanted[key]) for key in keys}
    await _add(conn, {key: n for key, n in granted.items() if n})
    return granted


async def give_back(conn: AsyncConnection, unused: Mapping[CounterKey, int]) -> None:
    """Return sends that were taken but did not happen (the attempt failed)."""
    await _add(conn, {key: -n for key, n in unused.items() if n})


async def _add(conn: AsyncConnection, amounts: Mapping[CounterKey, int]) -> None:
    if not amounts:
        return
    await conn.execute(
        update(daily_sends)
        .where(
            and_(
                daily_sends.c.workspace_id == bindparam("ws"),
                daily_sends.c.channel == bindparam("ch"),
                daily_sends.c.day == bindparam("d"),
            )
        )
        .values(used=case((daily_sends.c.used + bindparam("n") < 0, 0), else_=daily_sends.c.used + bindparam("n"))),
        [{"ws": ws, "ch": ch, "d": day, "n": n} for (ws, ch, day), n in sorted(amounts.items())],
    )
