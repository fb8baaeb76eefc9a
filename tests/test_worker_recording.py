"""Replies that come back one by one are written in batches: a lone result waits a moment for the
ones on their way, instead of paying a transaction of its own."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.store import queue
from commlog.worker.worker import RECORD_WINDOW

from .faults.common import WorkerWith, queue_webhooks, states_of
from .peers import HttpPeer, hang

MESSAGES = 40
#: Seconds between two replies: far less than the recording window, far more than one write takes.
SPACING = 0.004


async def test_scattered_replies_are_written_a_few_at_a_time_not_one_by_one(
    engine: AsyncEngine, settings: Settings
) -> None:
    async with HttpPeer() as peer:
        for i in range(MESSAGES):
            peer.script(f"/m{i}", hang(i * SPACING))
        keys = []
        for i in range(MESSAGES):
            keys += await queue_webhooks(engine, peer.url(f"/m{i}"), 1, utc_now())
        runner = WorkerWith(engine, settings, utc_now, destination_concurrency=MESSAGES)
        worker = runner.worker
        batches: list[int] = []
        record = worker._record

        async def counted_record(results: list[queue.AttemptResult]) -> None:
            batches.append(len(results))
            await record(results)

        worker._record = counted_record  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            deadline = time.monotonic() + 10
            while (await states_of(engine, keys))[("SENT", None)] < MESSAGES and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task
            await runner.close()
    assert await states_of(engine, keys) == {("SENT", None): MESSAGES}
    assert sum(batches) == MESSAGES, "each result written once"
    spread = MESSAGES * SPACING
    # Replies spread over 160 ms, a window of 20: a handful of writes (one per reply without it).
    assert len(batches) <= 2 * spread / RECORD_WINDOW, batches
