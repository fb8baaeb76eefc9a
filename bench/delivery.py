"""Webhook deliveries per second through the whole pipeline (claim, sign, POST, record, update)
with one and two worker processes, beside a bare aiohttp client posting the same bodies to the same
sink in the same run.

    .venv/bin/python -m bench.delivery [--messages N] [--rounds R] [--database URL]

Each figure is the median of R rounds, the rounds of all three measures interleaved, so that a
burst of load from elsewhere on the machine does not fall on one measure only. The bare client
runs on uvloop, as the worker does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import timedelta

import aiohttp
import uvloop
from sqlalchemy import func, select

from bench.common import (
    CONCURRENCY,
    POSTGRES_URL,
    Results,
    cpu_ticks,
    fresh_database,
    sink_process,
    worker_processes,
)
from commlog.domain.clock import utc_now
from commlog.store.database import create_engine
from commlog.store.messages import insert_messages, new_message_row
from commlog.store.tables import attempts, messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace

BODY = '{"event": "LOAN_CREATED", "loan": {"id": "L-%06d", "amount": "1200.00", "currency": "EUR"}}'


async def bare_client(url: str, count: int, concurrency: int = CONCURRENCY) -> float:
    """The machine's limit: the same bodies POSTed by aiohttp alone, as fast as it can."""
    bodies = [(BODY % i).encode() for i in range(count)]
    next_index = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def post_until_done() -> None:
            for index in next_index:
                async with session.post(url, data=bodies[index], headers={"content-type": "application/json"}) as r:
                    await r.read()

        began = time.perf_counter()
        await asyncio.gather(*(post_until_done() for _ in range(concurrency)))
        return count / (time.perf_counter() - began)


async def load(database_url: str, sink_url: str, count: int, due_in: float) -> None:
    engine = create_engine(database_url)
    now = utc_now()
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, now)
    rows = []
    for i in range(count):
        row = new_message_row(workspace.id, {"type": "WEB_HOOK", "destination": sink_url, "body": BODY % i}, now)
        row["next_attempt_at"] = now + timedelta(seconds=due_in)
        rows.append(row)
    async with engine.begin() as conn:
        await insert_messages(conn, rows)
    await engine.dispose()


async def measured_rate(database_url: str, count: int, timeout: float) -> float:
    """Deliveries per second, from the first attempt's start to the last message's update."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                sent = (await conn.execute(select(func.count()).where(messages.c.state == "SENT"))).scalar_one()
                if sent >= count:
                    first = (await conn.execute(select(func.min(attempts.c.started_at)))).scalar_one()
                    last = (await conn.execute(select(func.max(messages.c.updated_at)))).scalar_one()
                    return count / (last - first).total_seconds()
            await asyncio.sleep(0.2)
        raise TimeoutError(f"only {sent} of {count} messages were sent in {timeout}s")
    finally:
        await engine.dispose()


def pipeline(database_url: str, sink_url: str, count: int, workers: int) -> tuple[float, float]:
    """Deliveries per second, and the share of the machine's CPU that was busy meanwhile."""
    fresh_database(database_url)
    asyncio.run(load(database_url, sink_url, count, due_in=3.0))
    with worker_processes(database_url, workers):
        busy, total = cpu_ticks()
        rate = asyncio.run(measured_rate(database_url, count, timeout=300))
        busy_after, total_after = cpu_ticks()
    return rate, (busy_after - busy) / max(total_after - total, 1)


def run(count: int, database_url: str, results: Results, rounds: int = 3) -> None:
    bares, ones, twos, busy_one, busy_two = [], [], [], [], []
    with sink_process() as sink_url:
        uvloop.run(bare_client(sink_url, 2000))  # warm the sink up
        for _ in range(rounds):
            bares.append(uvloop.run(bare_client(sink_url, count)))
            rate, busy = pipeline(database_url, sink_url, count, 1)
            ones.append(rate)
            busy_one.append(busy)
            rate, busy = pipeline(database_url, sink_url, count, 2)
            twos.append(rate)
            busy_two.append(busy)
    bare, one, two = (statistics.median(values) for values in (bares, ones, twos))
    results.add("bare aiohttp client", count, f"{bare:,.0f}/s", "-", "-", "-")
    results.add("deliveries, 1 worker", count, f"{one:,.0f}/s", f"{bare:,.0f}/s", f"{one / bare:.0%}", ">= 40%")
    results.add(
        "deliveries, 2 workers", count, f"{two:,.0f}/s", f"{one:,.0f}/s (1 worker)", f"{two / one:.2f}x", ">= 1.7x"
    )
    results.add(
        "machine CPU busy, 1 / 2 workers",
        count,
        f"{statistics.median(busy_one):.0%} / {statistics.median(busy_two):.0%}",
        "-",
        "-",
        "-",
    )
    if CPU_NOTE not in results.notes:
        results.notes.append(CPU_NOTE)


CPU_NOTE = (
    'The workers share the machine with the sink and PostgreSQL. "Machine CPU busy" is the share of all '
    "cores in use while the deliveries ran: when two workers keep it near 100%, the machine, not the "
    "worker, sets their combined rate."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=POSTGRES_URL)
    args = parser.parse_args()
    results = Results(f"Webhook delivery ({args.database.split(':')[0]})")
    run(args.messages, args.database, results, args.rounds)
    results.show()


if __name__ == "__main__":
    main()
