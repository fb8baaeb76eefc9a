"""Retry statistics for the Failed Messages dashboard (seed 003), from the log and its attempts.

Counts by state, type, failure reason and category are over the messages created in the range.
Recovery follows chains: of the originals created in the range that failed at least once, how many
were eventually sent by an automatic retry (the message itself ended SENT) and how many by a manual
one (it stayed FAILED, and a resend or reprocess in its chain was sent). Attempt counts and the
daily series are over the attempts made in the range, in UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.states import MessageState, Trigger
from commlog.store.tables import attempts, messages

AUTOMATIC_TRIGGERS = frozenset({Trigger.AUTOMATIC_RETRY, Trigger.DAILY_SWEEP})
MANUAL_TRIGGERS = frozenset({Trigger.MANUAL_RESEND, Trigger.REPROCESS})


@dataclass(frozen=True, slots=True)
class AttemptCounts:
    attempts: int = 0
    sent: int = 0

    def __add__(self, other: AttemptCounts) -> AttemptCounts:
        return AttemptCounts(self.attempts + other.attempts, self.sent + other.sent)

    @property
    def success_rate(self) -> float | None:
        return self.sent / self.attempts if self.attempts else None


@dataclass(frozen=True, slots=True)
class Recovery:
    failed_at_least_once: int
    sent_by_automatic_retry: int
    sent_by_manual_retry: int

    def rate(self, sent: int) -> float | None:
        return sent / self.failed_at_least_once if self.failed_at_least_once else None


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    sent: int = 0
    failed: int = 0
    retried: int = 0


@dataclass
class RetryStatistics:
    start: datetime
    end: datetime
    by_state: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    by_failure_reason: dict[str, int] = field(default_factory=dict)
    by_failure_category: dict[str, int] = field(default_factory=dict)
    recovery: Recovery = Recovery(0, 0, 0)
    by_trigger: dict[str, AttemptCounts] = field(default_factory=dict)
    daily: list[Day] = field(default_factory=list)

    def attempts_of(self, triggers: frozenset[Trigger]) -> AttemptCounts:
        return sum((self.by_trigger.get(t, AttemptCounts()) for t in triggers), AttemptCounts())


async def retry_statistics(conn: AsyncConnection, workspace_id: str, start: datetime, end: datetime) -> RetryStatistics:
    """Everything the statistics page shows for one workspace and the range [start, end)."""
    created = and_(
        messages.c.workspace_id == workspace_id, messages.c.creation_date >= start, messages.c.creation_date < end
    )
    stats = RetryStatistics(start, end)
    stats.by_state = await _count_by(conn, messages.c.state, created)
    stats.by_type = await _count_by(conn, messages.c.type, created)
    failed = and_(created, messages.c.state == MessageState.FAILED.value)
    stats.by_failure_reason = await _count_by(conn, messages.c.failure_reason, failed)
    stats.by_failure_category = await _count_by(conn, messages.c.failure_category, failed)
    stats.recovery = await _recovery(conn, created)
    made = and_(
        attempts.c.message_key == messages.c.encoded_key,
        messages.c.workspace_id == workspace_id,
        attempts.c.started_at >= start,
        attempts.c.started_at < end,
    )
    stats.by_trigger = await _attempts_by_trigger(conn, made)
    stats.daily = await _daily(conn, made, start, end)
    return stats


async def _count_by(conn: AsyncConnection, column: Any, where: ColumnElement[bool]) -> dict[str, int]:
    rows = await conn.execute(select(column, func.count()).where(where, column.is_not(None)).group_by(column))
    return {str(value): int(count) for value, count in rows}


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _recovery(conn: AsyncConnection, created: ColumnElement[bool]) -> Recovery:
    chain = messages.alias("chain")
    sent = messages.c.state == MessageState.SENT.value
    resend_sent = exists().where(chain.c.root_key == messages.c.encoded_key, chain.c.state == MessageState.SENT.value)
    failed_once = exists().where(attempts.c.message_key == messages.c.encoded_key, attempts.c.sent.is_(False))
    row = (
        await conn.execute(
            select(func.count(), _count_if(sent), _count_if(and_(~sent, resend_sent))).where(
                created, messages.c.root_key.is_(None), failed_once
            )
        )
    ).one()
    return Recovery(int(row[0]), int(row[1]), int(row[2]))


async def _attempts_by_trigger(conn: AsyncConnection, made: ColumnElement[bool]) -> dict[str, AttemptCounts]:
    rows = await conn.execute(
        select(attempts.c.trigger, func.count(), _count_if(attempts.c.sent.is_(True)))
        .where(made)
        .group_by(attempts.c.trigger)
    )
    return {str(trigger): AttemptCounts(int(total), int(sent)) for trigger, total, sent in rows}


async def _daily(conn: AsyncConnection, made: ColumnElement[bool], start: datetime, end: datetime) -> list[Day]:
    """One entry per UTC day of the range, days without attempts included (a chart wants them)."""
    if conn.dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", attempts.c.started_at), "YYYY-MM-DD")
    else:
        day = func.strftime("%Y-%m-%d", attempts.c.started_at)
    rows = await conn.execute(
        select(
            day,
            _count_if(attempts.c.sent.is_(True)),
            _count_if(attempts.c.sent.is_(False)),
            _count_if(attempts.c.trigger != Trigger.FIRST_SEND.value),
        )
        .where(made)
        .group_by(day)
    )
    found = {str(d): Day(date.fromisoformat(str(d)), int(s), int(f), int(r)) for d, s, f, r in rows}
    last = (end - timedelta(microseconds=1)).date()
    days = []
    current = start.date()
    while current <= last:
        days.append(found.get(current.isoformat(), Day(current)))
        current += timedelta(days=1)
    return days
