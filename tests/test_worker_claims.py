"""Overlapping claims: on PostgreSQL a worker has several claims in the database at once, yet never
starts more deliveries than its concurrency, and delivers each message once; SQLite claims one at a time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.worker.worker import CLAIMERS

from .faults.common import WorkerWith, queue_webhooks, states_of
from .peers import CountedReply, HttpPeer

MESSAGES = 300
CONCURRENCY = 30


async def test_claims_overlap_within_the_worker_s_room(engine: AsyncEngine, settings: Settings) -> None:
    answer_soon = CountedReply(0.02)
    async with HttpPeer() as peer:
        peer.default = answer_soon
        keys = await queue_webhooks(engine, peer.url(), MESSAGES, utc_now())
        runner = WorkerWith(
            engine,
            settings,
            utc_now,
            worker_concurrency=CONCURRENCY,
            claim_batch=CONCURRENCY,
            destination_concurrency=CONCURRENCY,
        )
        worker = runner.worker
        claims = most_claims = 0
        take = worker._take

        async def counted_take(limit: int, hold: bool = False) -> Any:
            nonlocal claims, most_claims
            claims += 1
            most_claims = max(most_claims, claims)
            try:
                return await take(limit, hold)
            finally:
                claims -= 1

        worker._take = counted_take  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            for _ in range(300):
                if (await states_of(engine, keys))[("SENT", None)] == MESSAGES:
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
            await runner.close()
    assert (await states_of(engine, keys))[("SENT", None)] == MESSAGES
    ids = [received.headers["webhook-id"] for received in peer.received]
    assert len(ids) == len(set(ids)) == MESSAGES, "a message was delivered twice"
    assert answer_soon.most <= CONCURRENCY, f"{answer_soon.most} deliveries in flight, room for {CONCURRENCY}"
    if engine.dialect.name == "postgresql":
        assert 1 < most_claims <= CLAIMERS
    else:
        assert most_claims == 1


async def test_a_claimer_without_a_backlog_waits_without_spinning(engine: AsyncEngine, settings: Settings) -> None:
    """Deliveries finishing keep 'capacity freed' set while claims come back short; a second
    claimer must sleep until claims come back full again, not loop on that event."""
    runner = WorkerWith(engine, settings, utc_now)
    worker = runner.worker
    worker._capacity_freed.set()
    stop = asyncio.Event()
    began = time.process_time()
    claimer = asyncio.create_task(worker._keep_claiming(stop, first=False))
    await asyncio.sleep(0.5)
    stop.set()
    await claimer
    await runner.close()
    assert time.process_time() - began < 0.1, "the idle claimer kept the CPU busy"
