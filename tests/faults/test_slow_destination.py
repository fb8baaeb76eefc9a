"""A dead or slow destination does not slow the others: per-destination caps and a circuit breaker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.circuit import CircuitState, destination_of
from commlog.domain.clock import FakeClock, utc_now

from ..peers import CountedReply, HttpPeer, hang, status
from .common import WorkerWith, queue_webhooks, states_of

SENT = ("SENT", None)
CIRCUIT_WAIT = ("WAITING", "WAIT_FOR_CLOSE_CIRCUIT")


@pytest.fixture
async def three_peers() -> AsyncIterator[tuple[HttpPeer, HttpPeer, HttpPeer]]:
    async with HttpPeer() as slow, HttpPeer() as fast_a, HttpPeer() as fast_b:
        yield slow, fast_a, fast_b


async def test_a_hanging_destination_does_not_slow_the_others(
    engine: AsyncEngine, settings: Settings, three_peers: tuple[HttpPeer, HttpPeer, HttpPeer]
) -> None:
    slow, fast_a, fast_b = three_peers
    never_answers = CountedReply(60, "too late")
    slow.default = never_answers
    now = utc_now()
    # The slow destination's messages are the oldest, so they would fill the worker first.
    slow_keys = await queue_webhooks(engine, slow.url(), 60, now)
    fast_keys = await queue_webhooks(engine, fast_a.url(), 150, now) + await queue_webhooks(
        engine, fast_b.url(), 150, now
    )
    timeout = 4.0
    runner = WorkerWith(
        engine,
        settings,
        utc_now,
        webhook_timeout=timeout,
        worker_concurrency=60,
        claim_batch=60,
        destination_concurrency=8,
        circuit_failures=1000,
        shutdown_grace=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.worker.run(stop))
    began = time.monotonic()
    try:
        while (await states_of(engine, fast_keys))[SENT] < len(fast_keys):
            assert time.monotonic() - began < timeout, "the fast destinations waited for the slow one"
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - began
        assert (await states_of(engine, slow_keys))[SENT] == 0, "the slow destination is still pending"
    finally:
        stop.set()
        await task
        await runner.close()
    assert len(fast_a.received) == len(fast_b.received) == 150
    assert never_answers.most <= 8, f"{never_answers.most} deliveries were in flight to one destination"
    assert elapsed < timeout
    pending = await states_of(engine, slow_keys)
    assert sum(pending.values()) == 60 and pending[SENT] == 0


async def test_the_circuit_opens_waits_probes_and_closes(
    engine: AsyncEngine, settings: Settings, clock: FakeClock, peer: HttpPeer
) -> None:
    async with HttpPeer() as healthy:
        peer.default = hang(60)
        dead_keys = await queue_webhooks(engine, peer.url(), 8, clock.now)
        healthy_keys = await queue_webhooks(engine, healthy.url(), 2, clock.now)
        runner = WorkerWith(
            engine,
            settings,
            clock,
            webhook_timeout=0.3,
            destination_concurrency=3,
            circuit_failures=3,
            circuit_cooldown=30.0,
        )
        worker = runner.worker
        circuit = worker.circuit(destination_of("WEB_HOOK", peer.url(), "any"))
        try:
            # Three time out (the cap lets only three go), which opens the circuit; the rest wait a moment.
            assert await worker.run_once() == 10
            assert circuit.state is CircuitState.OPEN
            assert len(peer.received) == 3
            assert (await states_of(engine, healthy_keys))[SENT] == 2

            # Once due again, no message is attempted: all wait for the circuit to close.
            clock.advance(2)
            assert await worker.run_once() == 8
            assert len(peer.received) == 3
            assert await states_of(engine, dead_keys) == {CIRCUIT_WAIT: 8}

            # After the cool-down one probe goes through; it succeeds and closes the circuit.
            peer.default = status(200)
            clock.advance(30)
            assert await worker.run_once() == 8
            assert len(peer.received) == 4
            assert circuit.state is CircuitState.CLOSED
            assert (await states_of(engine, dead_keys))[CIRCUIT_WAIT] == 7

            for _ in range(3):  # the cap lets three go per step
                clock.advance(1)
                await worker.run_once()
            assert await states_of(engine, dead_keys) == {SENT: 8}
        finally:
            await runner.close()
    # Waiting for the circuit used no retry: only the three real failures count.
    assert len(peer.received) == 11


async def test_a_failed_probe_opens_the_circuit_again(
    engine: AsyncEngine, settings: Settings, clock: FakeClock, peer: HttpPeer
) -> None:
    peer.default = status(503)
    keys = await queue_webhooks(engine, peer.url(), 4, clock.now)
    runner = WorkerWith(engine, settings, clock, destination_concurrency=2, circuit_failures=2, circuit_cooldown=10.0)
    circuit = runner.worker.circuit(destination_of("WEB_HOOK", peer.url(), "any"))
    try:
        await runner.worker.run_once()
        assert circuit.state is CircuitState.OPEN and len(peer.received) == 2
        clock.advance(10)
        await runner.worker.run_once()
        assert len(peer.received) == 3, "one probe after the cool-down"
        assert circuit.state is CircuitState.OPEN
        assert circuit.opened_at == clock.now, "the failed probe starts a new cool-down"
        assert (await states_of(engine, keys))[CIRCUIT_WAIT] == 3
    finally:
        await runner.close()
