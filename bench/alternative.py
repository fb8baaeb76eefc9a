"""commlog's worker beside the usual alternative — a Celery worker with a Redis broker running a
`requests.post` task with `autoretry_for` and `retry_backoff` — delivering the same bodies to the same
local sink, in one run.

    .venv/bin/python -m bench.alternative [--messages N] [--rounds R] [--database URL]

Celery gets the configuration that served it best here: the prefork pool with as many processes
as `--celery-concurrency` (default 8: the task waits on the network, so more processes than cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import redis

from bench.celery_tasks import BROKER, deliver
from bench.common import POSTGRES_URL, ROOT, Results, sink_process
from bench.delivery import BODY, pipeline


def celery_rate(sink_url: str, count: int, concurrency: int) -> float:
    counter = redis.Redis.from_url(BROKER)
    counter.flushdb()
    for i in range(count):
        deliver.delay(sink_url, BODY % i)
    command = [sys.executable, "-m", "celery", "-A", "bench.celery_tasks", "worker", "--loglevel=WARNING"]
    command += ["--pool=prefork", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
    worker = subprocess.Popen(command, cwd=ROOT, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while int(counter.get("bench:done") or 0) < count:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"Celery delivered {int(counter.get('bench:done') or 0)} of {count}")
            time.sleep(0.2)
        first, last = float(counter.get("bench:first") or 0), float(counter.get("bench:last") or 0)
        return count / (last - first)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        counter.flushdb()


def run(count: int, database_url: str, results: Results, celery_concurrency: int = 8, rounds: int = 3) -> None:
    """The median of `rounds` interleaved rounds of each: a run of a thousand messages lasts well under
    a second for commlog, and one round of it varied by a quarter from the next."""
    commlogs: list[float] = []
    celeries: list[float] = []
    with sink_process() as sink_url:
        for _ in range(rounds):
            commlogs.append(pipeline(database_url, sink_url, count, 1).rate)
            celeries.append(celery_rate(sink_url, count, celery_concurrency))
    commlog, celery = statistics.median(commlogs), statistics.median(celeries)
    results.add("Celery + Redis, requests.post task", count, f"{celery:,.0f}/s", "-", "-", "-")
    results.add(
        "commlog, 1 worker process",
        count,
        f"{commlog:,.0f}/s",
        f"{celery:,.0f}/s (Celery)",
        f"{commlog / celery:.1f}x",
        ">= 5x",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--celery-concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=POSTGRES_URL)
    args = parser.parse_args()
    results = Results("commlog beside the usual alternative")
    run(args.messages, args.database, results, args.celery_concurrency, args.rounds)
    results.show()


if __name__ == "__main__":
    main()
