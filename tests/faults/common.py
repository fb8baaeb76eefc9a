"""Pieces the fault tests share: queue webhooks at a given moment, read states, build a worker."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.channels.registry import build_channels, build_gates
from commlog.config import Settings
from commlog.domain.clock import Clock
from commlog.store.messages import insert_messages, new_message_row
from commlog.store.tables import messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace
from commlog.worker.worker import Worker


async def queue_webhooks(engine: AsyncEngine, url: str, count: int, now: datetime) -> list[str]:
    """Queue `count` webhooks to `url` straight into the log, as if submitted at `now`."""
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, now)
    rows = [
        new_message_row(workspace.id, {"type": "WEB_HOOK", "destination": url, "body": f'{{"n": {i}}}'}, now)
        for i in range(count)
    ]
    async with engine.begin() as conn:
        await insert_messages(conn, rows)
    return [row["encoded_key"] for row in rows]


async def states_of(engine: AsyncEngine, keys: list[str]) -> Counter[tuple[str, str | None]]:
    """(state, waitingReason) counts of these messages."""
    async with engine.connect() as conn:
        found = await conn.execute(
            select(messages.c.state, messages.c.waiting_reason, func.count())
            .where(messages.c.encoded_key.in_(keys))
            .group_by(messages.c.state, messages.c.waiting_reason)
        )
        return Counter({(state, reason): count for state, reason, count in found})


class WorkerWith:
    """A worker with its own settings; its channels are closed on `close`."""

    def __init__(self, engine: AsyncEngine, settings: Settings, clock: Clock, **overrides: Any) -> None:
        self.settings = replace(settings, **overrides)
        self.channels = build_channels(self.settings, clock)
        self.worker = Worker(engine, self.channels, self.settings, clock, build_gates(self.settings))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
