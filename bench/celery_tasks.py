"""The usual alternative to commlog: a Celery task that POSTs with requests and retries with backoff.

This is what a Python team writes when it has no commlog; bench/alternative.py runs it against the
same sink as commlog's worker. The task notes when the first one started and counts finished ones in
Redis, so the rate is measured the same way as commlog's (first attempt to last result).
"""

from __future__ import annotations

import os
import time

import redis
import requests
from celery import Celery

BROKER = os.environ.get("COMMLOG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

app = Celery("commlog_bench", broker=BROKER)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, task_ignore_result=True)
_counter = redis.Redis.from_url(BROKER)
_session = requests.Session()


@app.task(  # type: ignore[misc]
    autoretry_for=(requests.RequestException,), retry_backoff=True, retry_kwargs={"max_retries": 4}
)
def deliver(url: str, body: str) -> None:
    _counter.setnx("bench:first", time.time())
    response = _session.post(url, data=body.encode(), headers={"content-type": "application/json"}, timeout=10)
    response.raise_for_status()
    _counter.set("bench:last", time.time())
    _counter.incr("bench:done")
