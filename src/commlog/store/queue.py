"""The log as a queue: claim due messages under a lease, record what happened, release on shutdown.

A claim moves due rows to SENDING_ASYNC and pushes their `next_attempt_at` to the end of the lease,
so a worker that dies leaves rows that become due again by themselves. Every later write names
the lease token, so a worker whose lease ran out cannot overwrite the result of the one after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.failures import FailureCategory
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.retry import NextStep
from commlog.domain.states import MessageState, Trigger
from commlog.store.tables import attempts, messages

#: What a worker needs to deliver a claimed message.
CLAIMED_COLUMNS = (
    messages.c.encoded_key,
    messages.c.workspace_id,
    messages.c.type,
    messages.c.destination,
    messages.c.subject,
    messages.c.body,
    messages.c.headers,
    messages.c.num_retries,
    messages.c.attempt_count,
    messages.c.trigger,
    messages.c.sender_key,
    messages.c.lease_token,
)


async def claim(conn: AsyncConnection, lease_token: str, limit: int, now: datetime, lease_seconds: float) -> list[Any]:
    """Take up to `limit` due messages for this worker; concurrent workers never take the same row."""
    due = (
        select(messages.c.encoded_key)
        .where(messages.c.next_attempt_at <= now)
        .order_by(messages.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(messages)
        .where(messages.c.encoded_key.in_(due.scalar_subquery()), messages.c.next_attempt_at <= now)
        .values(
            state=MessageState.SENDING_ASYNC.value,
            waiting_reason=None,
            next_attempt_at=now + timedelta(seconds=lease_seconds),
            lease_token=lease_token,
            attempt_count=messages.c.attempt_count + 1,
            updated_at=now,
        )
        .returning(*CLAIMED_COLUMNS)
    )
    return list(await conn.execute(statement))


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One finished delivery, ready to be written."""

    message_key: str
    lease_token: str
    number: int
    trigger: str
    triggered_by: str
    started_at: datetime
    duration_ms: float
    outcome: DeliveryOutcome
    next_step: NextStep
    finished_at: datetime


async def record(conn: AsyncConnection, results: Sequence[AttemptResult]) -> None:
    """Write a batch of attempts and the states they lead to, in two statements."""
    if not results:
        return
    await conn.execute(
        attempts.insert(),
        [
            {
                "message_key": r.message_key,
                "number": r.number,
                "trigger": r.trigger,
                "triggered_by": r.triggered_by,
                "started_at": r.started_at,
                "duration_ms": r.duration_ms,
                "sent": r.outcome.sent,
                "status_code": r.outcome.status_code,
                "provider_reply": r.outcome.provider_reply,
                "response_excerpt": r.outcome.response_excerpt,
                "failure_reason": r.outcome.failure_reason,
                "failure_category": _category(r.outcome),
                "failure_cause": r.outcome.failure_cause,
            }
            for r in results
        ],
    )
    statement = (
        update(messages)
        .where(messages.c.encoded_key == bindparam("k"), messages.c.lease_token == bindparam("t"))
        .values(
            state=bindparam("s"),
            waiting_reason=bindparam("w"),
            next_attempt_at=bindparam("n"),
            num_retries=bindparam("r"),
            retry_not_before=bindparam("rnb"),
            failure_reason=bindparam("fr"),
            failure_cause=bindparam("fc"),
            failure_category=bindparam("cat"),
            send_date=func.coalesce(bindparam("sd", type_=messages.c.send_date.type), messages.c.send_date),
            trigger=bindparam("trig"),
            lease_token=None,
            updated_at=bindparam("at"),
        )
    )
    await conn.execute(
        statement,
        [
            {
                "k": r.message_key,
                "t": r.lease_token,
                "s": r.next_step.state.value,
                "w": r.next_step.waiting_reason.value if r.next_step.waiting_reason else None,
                "n": r.next_step.next_attempt_at,
                "r": r.next_step.num_retries,
                "rnb": r.next_step.retry_not_before,
                "fr": r.outcome.failure_reason,
                "fc": r.outcome.failure_cause,
                "cat": _category(r.outcome),
                "sd": r.finished_at if r.outcome.sent else None,
                "at": r.finished_at,
                "trig": Trigger.AUTOMATIC_RETRY.value if r.next_step.state is MessageState.WAITING else r.trigger,
            }
            for r in results
        ],
    )


def _category(outcome: DeliveryOutcome) -> str | None:
    category = outcome.category
    return None if category is None else category.value


async def release(conn: AsyncConnection, lease_token: str, keys: Sequence[str], now: datetime) -> None:
    """Hand unfinished claims back at once (graceful shutdown), instead of waiting for the lease."""
    if not keys:
        return
    await conn.execute(
        update(messages)
        .where(messages.c.encoded_key.in_(list(keys)), messages.c.lease_token == lease_token)
        .values(
            state=case((messages.c.num_retries == 0, MessageState.QUEUED.value), else_=MessageState.WAITING.value),
            waiting_reason=case((messages.c.num_retries == 0, None), else_="READY_TO_BE_SENT"),
            next_attempt_at=now,
            lease_token=None,
            attempt_count=messages.c.attempt_count - 1,
            updated_at=now,
        )
    )


async def sweep(conn: AsyncConnection, workspace_id: str, max_sweeps: int, now: datetime) -> int:
    """Seed 003's sweep: put FAILED, retryable messages whose wait has passed back in the queue."""
    result = await conn.execute(
        update(messages)
        .where(
            messages.c.workspace_id == workspace_id,
            messages.c.state == MessageState.FAILED.value,
            messages.c.failure_category == FailureCategory.RETRYABLE.value,
            messages.c.num_sweeps < max_sweeps,
            or_(messages.c.retry_not_before.is_(None), messages.c.retry_not_before <= now),
            # A message someone already resent by hand lives on in its resend.
            messages.c.resent_at.is_(None),
        )
        .values(
            state=MessageState.QUEUED.value,
            trigger=Trigger.DAILY_SWEEP.value,
            num_sweeps=messages.c.num_sweeps + 1,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    return int(result.rowcount)
