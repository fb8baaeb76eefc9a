"""Prometheus metrics: counters the worker bumps as it records attempts, and gauges read from the log
when someone scrapes `/metrics` (one grouped query each, cached for a few seconds so a busy scraper
costs the database nothing more).

Counters and the histogram are per process (each worker reports its own; Prometheus sums them);
the gauges describe the whole database, so every API process reports the same values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.outcome import DeliveryOutcome
from commlog.store.operations import messages_by_state_and_type, queue_depth

#: How long gauge values read from the database are reused.
GAUGE_TTL = 5.0

REGISTRY = CollectorRegistry(auto_describe=True)

ATTEMPTS = Counter(
    "commlog_attempts",
    "Delivery attempts recorded by this process, by outcome (sent or failed) and failure reason.",
    ["outcome", "reason"],
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "commlog_delivery_seconds",
    "How long one delivery attempt took, from handing it to the channel to its answer.",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
MESSAGES = Gauge("commlog_messages", "Messages in the log, by state and type.", ["state", "type"], registry=REGISTRY)
QUEUE_DEPTH = Gauge("commlog_queue_depth", "Messages due for delivery now.", registry=REGISTRY)
OLDEST_DUE = Gauge(
    "commlog_oldest_due_message_age_seconds",
    "How long the oldest due message has waited past its due time (0 when none is due).",
    registry=REGISTRY,
)


def record_attempts(outcomes: Iterable[tuple[DeliveryOutcome, float]]) -> None:
    """Count finished attempts, each with its duration in milliseconds (called by the worker)."""
    for outcome, duration_ms in outcomes:
        label = "sent" if outcome.sent else "failed"
        ATTEMPTS.labels(label, "" if outcome.sent else outcome.failure_reason or "OTHER").inc()
        DELIVERY_SECONDS.labels(label).observe(duration_ms / 1000)


class LogGauges:
    """Refreshes the gauges from the database at most once per GAUGE_TTL seconds."""

    def __init__(self) -> None:
        self._refreshed = -GAUGE_TTL
        self._known: set[tuple[str, str]] = set()

    async def refresh(self, engine: AsyncEngine, now: datetime) -> None:
        if time.monotonic() - self._refreshed < GAUGE_TTL:
            return
        async with engine.connect() as conn:
            counts = await messages_by_state_and_type(conn)
            depth = await queue_depth(conn, now)
        for gone in self._known - counts.keys():
            MESSAGES.labels(*gone).set(0)
        for labels, count in counts.items():
            MESSAGES.labels(*labels).set(count)
        self._known |= counts.keys()
        QUEUE_DEPTH.set(depth.due)
        OLDEST_DUE.set(depth.oldest_due_seconds)
        self._refreshed = time.monotonic()


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
