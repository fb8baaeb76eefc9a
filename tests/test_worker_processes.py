"""Worker processes on one database: exactly-once claims, crash recovery, graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.config import Settings
from commlog.domain.clock import utc_now
from commlog.store.messages import insert_messages, new_message_row
from commlog.store.tables import attempts, messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace

from .peers import HttpPeer, Reply


def start_worker(settings: Settings, log: Path, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "COMMLOG_DATABASE_URL": settings.database_url,
        "COMMLOG_POLL_INTERVAL": "0.02",
        **env,
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "commlog.cli", "worker"], env=environment, stdout=out, stderr=subprocess.STDOUT
        )


async def queue_webhooks(engine: AsyncEngine, url: str, count: int) -> list[str]:
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, utc_now())
    rows = [
        new_message_row(workspace.id, {"type": "WEB_HOOK", "destination": url, "body": f'{{"n": {i}}}'}, utc_now())
        for i in range(count)
    ]
    async with engine.begin() as conn:
        await insert_messages(conn, rows)
    return [row["encoded_key"] for row in rows]


async def states(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        found = await conn.execute(select(messages.c.state, func.count()).group_by(messages.c.state))
        return Counter({state: count for state, count in found})


async def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def slow(seconds: float) -> Reply:
    async def reply(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(text="ok")

    return reply


async def test_two_workers_deliver_each_message_exactly_once(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer, tmp_path: Path
) -> None:
    peer.default = slow(0.005)
    workers = [
        start_worker(settings, tmp_path / f"w{i}.log", COMMLOG_CLAIM_BATCH="10", COMMLOG_WORKER_CONCURRENCY="20")
        for i in range(2)
    ]
    try:

        async def both_started() -> bool:
            return all("worker started" in (tmp_path / f"w{i}.log").read_text() for i in range(2))

        # Both compete for every message: on a busy machine one could deliver them all before the
        # other has started.
        await wait_until(both_started, 60, "both workers to start")
        keys = await queue_webhooks(engine, peer.url(), 400)

        async def all_sent() -> bool:
            return (await states(engine))["SENT"] == len(keys)

        await wait_until(all_sent, 90, "every message to be SENT")
    finally:
        for worker in workers:
            stop(worker)
    per_id = Counter(request.headers["webhook-id"] for request in peer.received)
    assert len(per_id) == len(keys)
    assert max(per_id.values()) == 1, [k for k, n in per_id.items() if n > 1][:5]
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(attempts))).scalar_one() == len(keys)


async def test_a_killed_worker_loses_nothing(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer, tmp_path: Path
) -> None:
    release = asyncio.Event()

    async def held(_request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="ok")

    peer.default = held
    keys = await queue_webhooks(engine, peer.url(), 20)
    # Room for exactly these 20: were its 2 s lease to run out before the kill (a loaded machine), the
    # first worker would otherwise claim its own held messages again and send them a second time.
    first = start_worker(settings, tmp_path / "first.log", COMMLOG_LEASE_SECONDS="2", COMMLOG_WORKER_CONCURRENCY="20")
    try:

        async def all_in_flight() -> bool:
            return len(peer.received) == len(keys)

        await wait_until(all_in_flight, 30, "the first worker to hold every message")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert (await states(engine))["SENDING_ASYNC"] == len(keys)
    finally:
        stop(first)
    release.set()
    # The second worker's own lease is long: had it to record its results within 2 s, a slow moment
    # would make it claim and send some again (attempt 3), which is not what this test is about.
    second = start_worker(settings, tmp_path / "second.log", COMMLOG_LEASE_SECONDS="30")
    try:

        async def all_sent() -> bool:
            return (await states(engine))["SENT"] == len(keys)

        await wait_until(all_sent, 30, "the second worker to deliver after the first one's lease ran out")
    finally:
        stop(second)
    async with engine.connect() as conn:
        numbers = (await conn.execute(select(attempts.c.number))).scalars().all()
    assert sorted(numbers) == [2] * len(keys), "the killed worker's attempt counts; its result never arrived"


async def test_sigterm_finishes_in_flight_deliveries(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer, tmp_path: Path
) -> None:
    peer.default = slow(1.0)
    keys = await queue_webhooks(engine, peer.url(), 10)
    worker = start_worker(settings, tmp_path / "w.log", COMMLOG_SHUTDOWN_GRACE="10")
    try:

        async def in_flight() -> bool:
            return len(peer.received) == len(keys)

        await wait_until(in_flight, 30, "deliveries in flight")
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 15) == 0
    finally:
        stop(worker)
    assert (await states(engine)) == Counter({"SENT": len(keys)})
    assert "worker stopped" in (tmp_path / "w.log").read_text()


async def test_sigterm_hands_back_what_cannot_finish(
    engine: AsyncEngine, settings: Settings, peer: HttpPeer, tmp_path: Path
) -> None:
    peer.default = slow(30)
    keys = await queue_webhooks(engine, peer.url(), 10)
    worker = start_worker(settings, tmp_path / "w.log", COMMLOG_SHUTDOWN_GRACE="0.2", COMMLOG_LEASE_SECONDS="300")
    try:

        async def in_flight() -> bool:
            return len(peer.received) == len(keys)

        await wait_until(in_flight, 30, "deliveries in flight")
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 15) == 0
    finally:
        stop(worker)
    # Handed back at once rather than stuck until a 300 s lease runs out.
    assert (await states(engine)) == Counter({"QUEUED": len(keys)})
    async with engine.connect() as conn:
        due = (await conn.execute(select(func.max(messages.c.next_attempt_at)))).scalar_one()
    assert due <= utc_now()
