"""A worker whose database goes away between claiming and sending keeps the claimed messages.

The database outage test (test_database_outage.py) found it on a real PostgreSQL: the gates' look
at the database failed after a claim, and those messages sat claimed until their lease ran out,
their destination slots never given back. Here the same step fails on purpose, on either database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commlog.channels.registry import build_channels
from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.domain.outcome import DeliveryOutcome
from commlog.store import queue
from commlog.store.workspaces import Workspace
from commlog.worker.worker import Worker

from ..peers import HttpPeer
from .common import queue_webhooks, states_of


class GateWhoseDatabaseGoes:
    """A gate whose first look at the database fails as a lost connection does."""

    def __init__(self) -> None:
        self.looks = 0

    async def refuse(
        self, conn: AsyncConnection, rows: Sequence[Any], workspaces: Mapping[str, Workspace], now: datetime
    ) -> dict[str, DeliveryOutcome]:
        self.looks += 1
        if self.looks == 1:
            raise ConnectionRefusedError("the database went away")
        return {}

    async def recorded(self, conn: AsyncConnection, results: Sequence[queue.AttemptResult]) -> None:
        return None


async def test_messages_claimed_before_the_database_went_are_sent_when_it_is_back(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer
) -> None:
    keys = await queue_webhooks(engine, peer.url(), 20, utc_now())
    gate = GateWhoseDatabaseGoes()
    channels = build_channels(settings)
    # A lease far longer than the test: a message left claimed would not come back in time.
    worker = Worker(engine, channels, replace(settings, lease_seconds=300), gates=[gate])
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        deadline = time.monotonic() + 10
        while (await states_of(engine, keys))[("SENT", None)] < len(keys) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        for channel in channels.values():
            await channel.close()
    assert gate.looks >= 2, "the claimed batch was checked again once the database answered"
    assert await states_of(engine, keys) == {("SENT", None): len(keys)}
    assert len(peer.received) == len(keys), "each sent once"
    assert not any(worker._busy.values()), f"every destination slot was given back: {dict(worker._busy)}"
