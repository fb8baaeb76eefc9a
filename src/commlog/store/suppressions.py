"""The suppression list: recipients of a workspace who opted out, on one channel or on all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.keys import is_key, new_key
from commlog.domain.limits import ALL_CHANNELS, suppression_key
from commlog.store.tables import suppressions

s = suppressions.c


class AlreadySuppressed(Exception):
    """The destination is already on the list for that channel."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


async def add(
    conn: AsyncConnection,
    workspace_id: str,
    destination: str,
    channel: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> Any:
    """Put a destination on the list; `channel` None covers every channel."""
    key, stored_channel = suppression_key(destination), channel or ALL_CHANNELS
    values: dict[str, Any] = {
        "id": new_key(),
        "workspace_id": workspace_id,
        "destination": destination.strip(),
        "destination_key": key,
        "channel": stored_channel,
        "reason": reason,
        "created_at": now,
        "created_by": actor,
    }
    existing = await _find(conn, workspace_id, key, stored_channel)
    if existing is not None:
        raise AlreadySuppressed(existing)
    # A concurrent add of the same entry fails on the unique key; the caller answers it as taken.
    await conn.execute(suppressions.insert().values(values))
    return (await conn.execute(select(suppressions).where(s.id == values["id"]))).one()


async def _find(conn: AsyncConnection, workspace_id: str, key: str, channel: str) -> str | None:
    found = await conn.execute(
        select(s.id).where(s.workspace_id == workspace_id, s.destination_key == key, s.channel == channel)
    )
    return found.scalar_one_or_none()


async def page(conn: AsyncConnection, workspace_id: str, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of the list, newest first, and how many entries there are."""
    rows = await conn.execute(
        select(suppressions)
        .where(s.workspace_id == workspace_id)
        .order_by(s.created_at.desc(), s.id)
        .limit(limit)
        .offset(offset)
    )
    total = await conn.execute(select(func.count()).select_from(suppressions).where(s.workspace_id == workspace_id))
    return list(rows), int(total.scalar_one())


async def remove(conn: AsyncConnection, workspace_id: str, ref: str, channel: str | None) -> list[Any]:
    """Take an entry off by its id, or every entry of a destination (on `channel` only, if given)."""
    if is_key(ref):
        by_id = await conn.execute(
            delete(suppressions).where(s.workspace_id == workspace_id, s.id == ref).returning(*suppressions.c)
        )
        removed = list(by_id)
        if removed:
            return removed
    clauses = [s.workspace_id == workspace_id, s.destination_key == suppression_key(ref)]
    if channel is not None:
        clauses.append(s.channel == channel)
    return list(await conn.execute(delete(suppressions).where(*clauses).returning(*suppressions.c)))


async def matching(conn: AsyncConnection, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[Any]]:
    """The entries for these (workspace, destination) pairs, by (workspace, destination key).

    One query for a whole claimed batch; which of them stops which channel is the caller's rule.
    """
    if not wanted:
        return {}
    pairs = sorted({(ws, suppression_key(destination)) for ws, destination in wanted})
    found: dict[tuple[str, str], list[Any]] = {}
    for row in await conn.execute(select(suppressions).where(tuple_(s.workspace_id, s.destination_key).in_(pairs))):
        found.setdefault((row.workspace_id, row.destination_key), []).append(row)
    return found
