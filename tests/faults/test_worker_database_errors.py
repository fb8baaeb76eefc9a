"""A worker whose database goes away between claiming and sending keeps the claimed messages; one
whose database refuses an attempt for good writes the others.

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

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commlog.channels.registry import build_channels
from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.domain.outcome import DeliveryOutcome
from commlog.store import queue
from commlog.store.tables import messages
from commlog.store.workspaces import Workspace
from commlog.worker.worker import Worker

from ..peers import HttpPeer, hang
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


async def test_an_attempt_that_can_never_be_written_does_not_hold_up_the_others(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer, caplog: pytest.LogCaptureFixture
) -> None:
    """A message purged while its delivery was in flight (its lease had run out, another worker
    finished it, the retention purge took it): its attempt breaks the attempts' foreign key. The
    recorder used to put the batch back and try it again forever, with every later result in it."""
    peer.script("/doomed", hang(0.5))
    [doomed] = await queue_webhooks(engine, peer.url("/doomed"), 1, utc_now())
    channels = build_channels(settings)
    worker = Worker(engine, channels, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(peer.arrived.wait(), timeout=5)
        async with engine.begin() as conn:
            await conn.execute(delete(messages).where(messages.c.encoded_key == doomed))
        await asyncio.sleep(0.8)  # the doomed reply came back, and its attempt could not be written
        later = await queue_webhooks(engine, peer.url("/later"), 5, utc_now())
        deadline = time.monotonic() + 10
        while (await states_of(engine, later))[("SENT", None)] < len(later) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)  # a recorder stuck on the batch never lets it stop
        for channel in channels.values():
            await channel.close()
    assert await states_of(engine, later) == {("SENT", None): len(later)}
    assert len(peer.at("/later")) == len(later), "each sent once"
    assert f"could not record attempt 1 of message {doomed}" in caplog.text
