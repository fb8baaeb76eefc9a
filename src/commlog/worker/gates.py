"""Seed 003's business rules as delivery gates: opt-outs first, then the daily sending limits.

Each gate sees a whole claimed batch and asks the database once per batch, not once per message,
and only about the messages the claim flagged (`queue.GATE_FLAGS`): a workspace with no list and no
limits costs the gates nothing. A message the worker held for a free slot at its destination is
looked at again when it goes (`worker._checked_again`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.clock import zone_named
from commlog.domain.limits import (
    limit_reached,
    local_day,
    opted_out,
    suppression_applies,
    suppression_key,
)
from commlog.domain.outcome import DeliveryOutcome
from commlog.store import limits as counts
from commlog.store import queue
from commlog.store.suppressions import matching
from commlog.store.workspaces import Workspace


class SuppressionGate:
    """A message to a recipient on the workspace's suppression list fails NON_RETRYABLE, unsent."""

    async def refuse(
        self, conn: AsyncConnection, rows: Sequence[Any], workspaces: Mapping[str, Workspace], now: datetime
    ) -> dict[str, DeliveryOutcome]:
        listed = [row for row in rows if row.listed]
        if not listed:
            return {}
        found = await matching(conn, [(row.workspace_id, row.destination) for row in listed])
        refused: dict[str, DeliveryOutcome] = {}
        for row in listed:
            entries = found.get((row.workspace_id, suppression_key(row.destination)), [])
            entry = next((e for e in entries if suppression_applies(e.channel, row.type)), None)
            if entry is not None:
                refused[row.encoded_key] = opted_out(entry.reason)
        return refused

    async def recorded(self, conn: AsyncConnection, results: Sequence[queue.AttemptResult]) -> None:
        return None


class DailyLimitGate:
    """Lets each workspace send at most its daily limit per channel; the rest waits for midnight.

    The gate takes the batch's share of the day's counter before sending and remembers which
    messages it took for, so the recording transaction gives back what was not sent. One gate per
    worker: the memory of what it took is the worker's own.
    """

    def __init__(self) -> None:
        self._taken: dict[str, counts.CounterKey] = {}

    async def refuse(
        self, conn: AsyncConnection, rows: Sequence[Any], workspaces: Mapping[str, Workspace], now: datetime
    ) -> dict[str, DeliveryOutcome]:
        limited = [row for row in rows if row.limited]
        if not limited:
            return {}
        limits = await counts.limits_of(conn, [row.workspace_id for row in limited])
        groups: dict[counts.CounterKey, list[Any]] = {}
        limit_of: dict[counts.CounterKey, int] = {}
        for row in limited:
            limit = limits.get((row.workspace_id, row.type))
            if limit is None:
                continue
            zone = zone_named(workspaces[row.workspace_id].time_zone)
            key = (row.workspace_id, row.type, local_day(now, zone).isoformat())
            groups.setdefault(key, []).append(row)
            limit_of[key] = limit
        granted = await counts.take(conn, {key: len(group) for key, group in groups.items()}, limit_of)
        refused: dict[str, DeliveryOutcome] = {}
        for key, group in groups.items():
            allowed = granted[key]
            for row in group[:allowed]:
                self._taken[row.encoded_key] = key
            if allowed < len(group):
                zone = zone_named(workspaces[key[0]].time_zone)
                outcome = limit_reached(key[1], limit_of[key], now, zone)
                refused.update({row.encoded_key: outcome for row in group[allowed:]})
        return refused

    async def recorded(self, conn: AsyncConnection, results: Sequence[queue.AttemptResult]) -> None:
        unused: Counter[counts.CounterKey] = Counter()
        for result in results:
            key = self._taken.pop(result.message_key, None)
            if key is not None and not result.outcome.sent:
                unused[key] += 1
        await counts.give_back(conn, unused)
