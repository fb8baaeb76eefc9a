"""How late automatic retries fire after their due time, under a steady load with failures.

Notifications arrive through the batch API at `--rate` per second for `--seconds`; the sink fails
the first attempt of 30% of them with a 503, so each of those is retried after the policy's first
back-off (2 s). A retry's lateness is its start minus its due time (the failed attempt's end plus
the back-off), read from the attempts table after the run. The baseline is the worker's poll
interval: the lateness an idle worker would show.

    .venv/bin/python -m bench.retry_timeliness [--rate R] [--seconds S] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import timedelta

import aiohttp
import uvloop
from sqlalchemy import select

from bench.common import (
    API_KEY,
    POSTGRES_URL,
    Results,
    api_server,
    cpu_ticks,
    fresh_database,
    sink_process,
    worker_processes,
)
from commlog.config import Settings
from commlog.domain.retry import RetryPolicy
from commlog.store.database import create_engine
from commlog.store.tables import attempts

FAILING_PERCENT = 30
TICK = 0.1


async def steady_load(base_url: str, sink_url: str, rate: int, seconds: float) -> int:
    """Submit `rate` notifications a second in batches every TICK seconds; how many were accepted."""
    per_tick = max(1, round(rate * TICK))
    headers = {"apiKey": API_KEY, "Prefer": "return=minimal", "content-type": "application/json"}
    sent = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        began = time.monotonic()
        tick = 0
        while time.monotonic() - began < seconds:
            items = [
                {"type": "WEB_HOOK", "destination": sink_url, "body": json.dumps({"n": sent + i})}
                for i in range(per_tick)
            ]
            async with session.post(f"{base_url}/api/messages:batch", data=json.dumps({"messages": items})) as response:
                if response.status != 202:
                    raise RuntimeError(f"batch refused: {response.status} {await response.text()}")
            sent += per_tick
            tick += 1
            await asyncio.sleep(max(0.0, began + tick * TICK - time.monotonic()))
    return sent


async def lateness_ms(database_url: str, expected_retries: int, timeout: float = 120) -> list[float]:
    """Lateness of every first retry, once they have all happened."""
    delay = timedelta(seconds=RetryPolicy().back_off_delay)
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with engine.connect() as conn:
                rows = list(await conn.execute(select(attempts).order_by(attempts.c.message_key, attempts.c.number)))
            first: dict[str, object] = {}
            late: list[float] = []
            for row in rows:
                if row.number == 1 and not row.sent:
                    first[row.message_key] = row
                elif row.number == 2 and row.message_key in first:
                    failed = first[row.message_key]
                    due = failed.started_at + timedelta(milliseconds=failed.duration_ms) + delay  # type: ignore[attr-defined]
                    late.append((row.started_at - due).total_seconds() * 1000)
            if len(late) >= expected_retries or time.monotonic() > deadline:
                return late
            await asyncio.sleep(1)
    finally:
        await engine.dispose()


def run(database_url: str, rate: int, seconds: float, results: Results) -> None:
    fresh_database(database_url)
    with (
        sink_process(FAILING_PERCENT) as sink_url,
        api_server(database_url) as base_url,
        worker_processes(database_url, 1),
    ):
        busy, total = cpu_ticks()
        sent = uvloop.run(steady_load(base_url, sink_url, rate, seconds))
        busy_after, total_after = cpu_ticks()
        expected = sent * FAILING_PERCENT // 100 * 9 // 10  # crc32 spreads ids evenly; allow for chance
        late = uvloop.run(lateness_ms(database_url, expected))
    if len(late) < 2:
        raise RuntimeError(f"only {len(late)} retries were seen")
    cuts = statistics.quantiles(late, n=100)
    poll_ms = f"{Settings(database_url=database_url).poll_interval * 1000:.0f} ms (poll interval)"
    size = f"{sent} msgs, {len(late)} retries"
    results.add(f"retry lateness p50 at {rate}/s", size, f"{cuts[49]:.0f} ms", poll_ms, "-", "-")
    results.add(f"retry lateness p99 at {rate}/s", size, f"{cuts[98]:.0f} ms", poll_ms, "-", "< 250 ms")
    share = (busy_after - busy) / max(total_after - total, 1)
    results.add(f"machine CPU busy at {rate}/s", size, f"{share:.0%}", "-", "-", "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database", default=POSTGRES_URL)
    args = parser.parse_args()
    results = Results(f"Retry timeliness, {FAILING_PERCENT}% of first attempts failing")
    run(args.database, args.rate, args.seconds, results)
    results.show()


if __name__ == "__main__":
    main()
