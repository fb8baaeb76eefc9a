"""Replies that come back one by one, as from a far destination, are written in batches (a lone result
waits a moment for the ones on their way instead of paying a transaction of its own), and wake the
claimer only when a claim is worth it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.store import queue
from commlog.worker.worker import RECORD_WINDOW, Worker

from .faults.common import WorkerWith, queue_webhooks, states_of
from .peers import HttpPeer, hang

MESSAGES = 40
#: Seconds between two replies: far less than the recording window, far more than one write takes.
SPACING = 0.004


async def deliver_scattered(
    engine: AsyncEngine, settings: Settings, watch: Callable[[Worker], None], **overrides: Any
) -> None:
    """Queue MESSAGES webhooks whose replies come SPACING apart, and run a worker (with `overrides`,
    watched by `watch`) until every one of them is SENT."""
    async with HttpPeer() as peer:
        keys = []
        for i in range(MESSAGES):
            peer.script(f"/m{i}", hang(i * SPACING))
            keys += await queue_webhooks(engine, peer.url(f"/m{i}"), 1, utc_now())
        runner = WorkerWith(engine, settings, utc_now, **{"destination_concurrency": MESSAGES, **overrides})
        watch(runner.worker)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.worker.run(stop))
        try:
            deadline = time.monotonic() + 10
            while (await states_of(engine, keys))[("SENT", None)] < MESSAGES and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task
            await runner.close()
    assert await states_of(engine, keys) == {("SENT", None): MESSAGES}


async def test_scattered_replies_are_written_a_few_at_a_time_not_one_by_one(
    engine: AsyncEngine, settings: Settings
) -> None:
    batches: list[int] = []

    def count_writes(worker: Worker) -> None:
        record = worker._record

        async def counted_record(results: list[queue.AttemptResult]) -> None:
            batches.append(len(results))
            await record(results)

        worker._record = counted_record  # type: ignore[method-assign]

    await deliver_scattered(engine, settings, count_writes)
    assert sum(batches) == MESSAGES, "each result written once"
    spread = MESSAGES * SPACING
    # Replies spread over 160 ms, a window of 20: a handful of writes (one per reply without it).
    assert len(batches) <= 2 * spread / RECORD_WINDOW, batches


async def test_scattered_replies_wake_the_claimer_only_when_a_claim_is_worth_it(
    engine: AsyncEngine, settings: Settings
) -> None:
    """With room for fewer messages than a quarter of a batch, a reply does not wake the claimer."""
    takes = 0

    def count_claims(worker: Worker) -> None:
        take = worker._take

        async def counted_take(limit: int, hold: bool = False) -> Any:
            nonlocal takes
            takes += 1
            return await take(limit, hold)

        worker._take = counted_take  # type: ignore[method-assign]

    await deliver_scattered(
        engine, settings, count_claims, worker_concurrency=MESSAGES, claim_batch=MESSAGES, poll_interval=1.0
    )
    # One claim of all 40, then a look each time a quarter of the room (10) is free again: 4 more.
    assert takes <= 8, f"{takes} claims for {MESSAGES} replies"
