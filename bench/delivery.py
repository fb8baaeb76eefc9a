"""Webhook deliveries per second through the whole pipeline (claim, sign, POST, record, update)
with one and two worker processes, beside a bare aiohttp client posting the same bodies to the same
sink in the same run.

    .venv/bin/python -m bench.delivery [--messages N] [--rounds R] [--far N] [--database URL]

Each figure is the median of R rounds, the rounds of all three measures interleaved, so that a
burst of load from elsewhere on the machine does not fall on one measure only; each ratio is the
median of the rounds' own ratios, whose measures ran back to back: this machine's speed drifts (the
bare client made 5,200 to 11,100 requests/s in one afternoon). The bare client runs on uvloop, as
the worker does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import uvloop
from sqlalchemy import func, select

from bench.common import (
    CONCURRENCY,
    PARTS,
    POSTGRES_URL,
    CpuSampler,
    CpuUse,
    Results,
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


async def measured_rate(database_url: str, count: int, timeout: float) -> tuple[float, float, float]:
    """Deliveries per second, from the first attempt's start to the last message's update; and
    those two moments (Unix times)."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                sent = (await conn.execute(select(func.count()).where(messages.c.state == "SENT"))).scalar_one()
                if sent >= count:
                    first = (await conn.execute(select(func.min(attempts.c.started_at)))).scalar_one()
                    last = (await conn.execute(select(func.max(messages.c.updated_at)))).scalar_one()
                    return count / (last - first).total_seconds(), first.timestamp(), last.timestamp()
            await asyncio.sleep(0.2)
        raise TimeoutError(f"only {sent} of {count} messages were sent in {timeout}s")
    finally:
        await engine.dispose()


@dataclass
class Run:
    """One pipeline run: its rate, and the CPU the machine and each process used meanwhile."""

    rate: float
    cpu: CpuUse

    def per_delivery_us(self, group: str) -> float:
        return self.cpu.cores[group] / self.rate * 1e6

    @property
    def ceiling(self) -> float:
        """The rate at which this run's CPU per delivery would keep every core busy."""
        return self.rate / max(self.cpu.busy, 1e-9)


def pipeline(
    database_url: str,
    sink_url: str,
    count: int,
    workers: int,
    settings: Mapping[str, str] | None = None,
    profiler: Sequence[str] = (),
) -> Run:
    """Deliveries per second, with the CPU used while the deliveries ran (`common.worker_processes`
    says what `settings` and `profiler` are)."""
    fresh_database(database_url)
    asyncio.run(load(database_url, sink_url, count, due_in=3.0))
    with worker_processes(database_url, workers, settings, profiler), CpuSampler() as sampler:
        rate, first, last = asyncio.run(measured_rate(database_url, count, timeout=300))
    return Run(rate, sampler.between(first, last))


def run(count: int, database_url: str, results: Results, rounds: int = 3) -> None:
    bares: list[float] = []
    ones: list[Run] = []
    twos: list[Run] = []
    with sink_process() as sink_url:
        uvloop.run(bare_client(sink_url, 2000))  # warm the sink up
        for _ in range(rounds):
            bares.append(uvloop.run(bare_client(sink_url, count)))
            ones.append(pipeline(database_url, sink_url, count, 1))
            twos.append(pipeline(database_url, sink_url, count, 2))
    bare = statistics.median(bares)
    one, two = (statistics.median(run.rate for run in runs) for runs in (ones, twos))
    one_to_bare = statistics.median(o.rate / b for o, b in zip(ones, bares, strict=True))
    two_to_one = statistics.median(t.rate / o.rate for t, o in zip(twos, ones, strict=True))
    results.add("bare aiohttp client", count, f"{bare:,.0f}/s", "-", "-", "-")
    results.add("deliveries, 1 worker", count, f"{one:,.0f}/s", f"{bare:,.0f}/s", f"{one_to_bare:.0%}", ">= 40%")
    results.add(
        "deliveries, 2 workers", count, f"{two:,.0f}/s", f"{one:,.0f}/s (1 worker)", f"{two_to_one:.2f}x", ">= 1.7x"
    )
    busy = " / ".join(f"{statistics.median(run.cpu.busy for run in runs):.0%}" for runs in (ones, twos))
    results.add("machine CPU busy, 1 / 2 workers", count, busy, "-", "-", "-")
    for label, runs in (("1 worker", ones), ("2 workers", twos)):
        spent = " + ".join(f"{statistics.median(run.per_delivery_us(group) for run in runs):.0f}" for group in PARTS)
        results.add(f"CPU per delivery, {label}: workers + PostgreSQL + sink", count, f"{spent} us", "-", "-", "-")
    ceiling = statistics.median(run.ceiling for run in twos)
    ceiling_to_one = statistics.median(t.ceiling / o.rate for t, o in zip(twos, ones, strict=True))
    results.add(
        "the machine's ceiling: every core busy at 2 workers' CPU per delivery",
        count,
        f"{ceiling:,.0f}/s",
        f"{one:,.0f}/s (1 worker)",
        f"{ceiling_to_one:.2f}x",
        "-",
    )
    results.note(CPU_NOTE)


#: How long the far destination takes to answer, as a webhook endpoint across the internet does.
FAR_DELAY_MS = 200


def run_far(count: int, database_url: str, results: Results, delay_ms: int = FAR_DELAY_MS) -> None:
    """One and two workers against a destination that answers in `delay_ms`: the workers wait on
    the network then, not on the machine's two cores, and show how they scale where there is room.
    Each may keep all of its deliveries in flight to the one destination, as the bare client does."""
    settings = {"COMMLOG_DESTINATION_CONCURRENCY": str(CONCURRENCY)}
    with sink_process(delay_ms=delay_ms) as sink_url:
        bare = uvloop.run(bare_client(sink_url, count))
        one = pipeline(database_url, sink_url, count, 1, settings)
        two = pipeline(database_url, sink_url, count, 2, settings)
    far = f"destination answering in {delay_ms} ms"
    results.add(f"bare aiohttp client, {far}", count, f"{bare:,.0f}/s", "-", "-", "-")
    results.add(
        f"deliveries, 1 worker, {far}", count, f"{one.rate:,.0f}/s", f"{bare:,.0f}/s", f"{one.rate / bare:.0%}", "-"
    )
    results.add(
        f"deliveries, 2 workers, {far}",
        count,
        f"{two.rate:,.0f}/s",
        f"{one.rate:,.0f}/s (1 worker)",
        f"{two.rate / one.rate:.2f}x",
        "-",
    )
    results.add(
        f"machine CPU busy, 1 / 2 workers, {far}", count, f"{one.cpu.busy:.0%} / {two.cpu.busy:.0%}", "-", "-", "-"
    )
    results.note(FAR_NOTE.format(delay_ms=delay_ms))


FAR_NOTE = (
    "Against a destination that answers in {delay_ms} ms on average (half to one and a half times that), a "
    "worker waits on the network, not on the machine, and the ratio of two workers to one shows how they "
    "scale where the cores are not the limit; on the local sink above it is the machine's two cores, "
    "shared with PostgreSQL and the sink, that stop them. Each worker may keep all its 200 deliveries in "
    "flight to the one destination (COMMLOG_DESTINATION_CONCURRENCY=200; by default a destination gets "
    "100 per worker), as the bare client keeps 200."
)


CPU_NOTE = (
    "The workers share the machine with the sink and PostgreSQL. The CPU figures cover the seconds the "
    'deliveries ran. "Machine CPU busy" is the share of all cores in use; "CPU per delivery" is what each '
    "part spent on one delivery; the ceiling is the rate at which that CPU would keep every core busy. "
    "When the ceiling is below 1.7 times one worker, no number of workers reaches it on this machine. "
    "Each ratio is the median of the rounds' own ratios (a round's measures run back to back, and the "
    "machine's speed drifts between rounds), so it need not be the quotient of the medians beside it."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--far", type=int, default=4_000, help="messages to the far destination (0: none)")
    parser.add_argument("--database", default=POSTGRES_URL)
    args = parser.parse_args()
    results = Results(f"Webhook delivery ({args.database.split(':')[0]})")
    run(args.messages, args.database, results, args.rounds)
    if args.far:
        run_far(args.far, args.database, results)
    results.show()


if __name__ == "__main__":
    main()
