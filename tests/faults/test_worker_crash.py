"""A worker SIGKILLed while it holds 500 messages in flight loses none of them."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import utc_now

from ..peers import HttpPeer
from ..test_worker_processes import start_worker, stop, wait_until
from .common import queue_webhooks, states_of

COUNT = 500


async def test_sigkill_with_500_in_flight_loses_nothing(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer, tmp_path: Path
) -> None:
    release = asyncio.Event()

    async def held(_request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="ok")

    peer.default = held
    keys = await queue_webhooks(engine, peer.url(), COUNT, utc_now())
    limits = {
        "COMMLOG_LEASE_SECONDS": "2",
        "COMMLOG_WORKER_CONCURRENCY": str(COUNT),
        "COMMLOG_CLAIM_BATCH": str(COUNT),
        "COMMLOG_DESTINATION_CONCURRENCY": str(COUNT),
    }
    first = start_worker(settings, tmp_path / "first.log", **limits)
    try:

        async def all_in_flight() -> bool:
            return len(peer.received) == COUNT

        await wait_until(all_in_flight, 30, "the first worker to hold every message")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert (await states_of(engine, keys)) == {("SENDING_ASYNC", None): COUNT}
    finally:
        stop(first)
    release.set()  # the receiver answers the dead worker's requests: it got them, the log does not know
    # The second worker's own lease is long enough for its 500 deliveries, so it repeats none itself.
    second = start_worker(settings, tmp_path / "second.log", **{**limits, "COMMLOG_LEASE_SECONDS": "60"})
    try:

        async def all_sent() -> bool:
            return (await states_of(engine, keys))[("SENT", None)] == COUNT

        await wait_until(all_sent, 60, "every message to be SENT after the lease ran out")
    finally:
        stop(second)
    per_id = Counter(request.headers["webhook-id"] for request in peer.received)
    duplicates = sum(n - 1 for n in per_id.values())
    print(f"at-least-once: {COUNT} messages, {len(peer.received)} requests, {duplicates} duplicates by webhook-id")
    assert len(per_id) == COUNT, "every message reached the receiver under its own webhook-id"
    # Only the deliveries the killed worker had in flight are repeated, each once.
    assert duplicates == COUNT and max(per_id.values()) == 2
