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

from sqlalchemy import Integer, bindparam, case, exists, func, literal_column, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnClause

from commlog.domain.failures import LIFTS_AFTER_WAIT, FailureCategory
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.retry import NextStep
from commlog.domain.states import MessageState, Trigger, WaitingReason
from commlog.store import events as stream_events
from commlog.store.database import chosen_once
from commlog.store.tables import attempts, messages, send_limits, suppressions

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

#: Whether a claimed message's workspace keeps a suppression list, and a daily limit on its channel.
#: Most have neither, and the delivery gates look further only where one does: asked by the claim
#: itself, the question costs no round trip of its own (two of the five a claim took). The claimed
#: row's columns are spelled out with their table: SQLite's RETURNING drops table names, and inside
#: the subquery a bare `workspace_id` would be the subquery's own.
_CLAIMED_WORKSPACE: ColumnClause[str] = literal_column("messages.workspace_id")
GATE_FLAGS = (
    exists().where(suppressions.c.workspace_id == _CLAIMED_WORKSPACE).label("listed"),
    exists()
    .where(send_limits.c.workspace_id == _CLAIMED_WORKSPACE, send_limits.c.channel == literal_column("messages.type"))
    .label("limited"),
)


async def claim(conn: AsyncConnection, lease_token: str, limit: int, now: datetime, lease_seconds: float) -> list[Any]:
    """Take up to `limit` due messages for this worker; concurrent workers never take the same row."""
    until = now + timedelta(seconds=lease_seconds)
    statement = _CLAIM if conn.dialect.name == "postgresql" else _CLAIM_SQLITE
    return list(await conn.execute(statement, {"now": now, "until": until, "token": lease_token, "limit": limit}))


#: The due messages a claim takes.
_DUE = (
    select(messages.c.encoded_key)
    .where(messages.c.next_attempt_at <= bindparam("now"))
    .order_by(messages.c.next_attempt_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)


def _claim_of(due: Any) -> Any:
    return (
        update(messages)
        .where(messages.c.encoded_key.in_(due), messages.c.next_attempt_at <= bindparam("now"))
        .values(
            state=MessageState.SENDING_ASYNC.value,
            waiting_reason=None,
            next_attempt_at=bindparam("until"),
            lease_token=bindparam("token"),
            attempt_count=messages.c.attempt_count + 1,
            updated_at=bindparam("now"),
        )
        .returning(*CLAIMED_COLUMNS, *GATE_FLAGS)
    )


#: Built once: building and caching the statement anew for every claim cost as much as running it.
_CLAIM = _claim_of(chosen_once(_DUE, postgres=True))
_CLAIM_SQLITE = _claim_of(chosen_once(_DUE, postgres=False))


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
    """Write a batch of attempts, the states they lead to and their events on the stream.

    A state change only lands while the lease is still the writer's; the attempt is kept either way.
    An attempt already in the log is skipped with its state change and events: a batch is written
    again when its commit landed but the reply was lost, and must not count its attempts twice.
    On PostgreSQL the batch travels as one statement over one array per column, which costs a
    fraction of the per-row parameter handling of an executemany, and the events' payloads are
    built by the database from the same arrays; elsewhere it is three executemany statements.
    """
    if not results:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(_RECORD_OVER_ARRAYS, _record_columns(results))
        return
    results = await _not_yet_recorded(conn, results)
    if not results:
        return
    # The stream's events first, while the leases they check are still in place.
    await stream_events.record_attempts(conn, results)
    await conn.execute(attempts.insert(), [_attempt_values(r) for r in results])
    await conn.execute(_MOVE_ON, [_message_values(r) for r in results])


async def _not_yet_recorded(conn: AsyncConnection, results: Sequence[AttemptResult]) -> list[AttemptResult]:
    """The results whose attempt (message, number) is not in the log yet."""
    keys = sorted({r.message_key for r in results})
    written = await conn.execute(
        select(attempts.c.message_key, attempts.c.number).where(attempts.c.message_key.in_(keys))
    )
    done = {(key, number) for key, number in written}
    return [r for r in results if (r.message_key, r.number) not in done]


def _attempt_values(r: AttemptResult) -> dict[str, Any]:
    return {
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
        "provider_message_id": r.outcome.provider_message_id,
        "failure_reason": r.outcome.failure_reason,
        "failure_category": _category(r.outcome),
        "failure_cause": r.outcome.failure_cause,
    }


def _message_values(r: AttemptResult) -> dict[str, Any]:
    return {
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


def _record_columns(results: Sequence[AttemptResult]) -> dict[str, list[Any]]:
    """`_message_values` and `_attempt_values` side by side, one list per column, each value once."""
    columns: dict[str, list[Any]] = {name: [] for name in _RECORD_COLUMN_NAMES}
    for r in results:
        for name, value in _message_values(r).items():
            columns[name].append(value)
        attempt = _attempt_values(r)
        for name in _ATTEMPT_ONLY:
            columns[name].append(attempt[name])
    return columns


#: What an attempt row holds beyond the message's columns (its key and failure are the message's).
_ATTEMPT_ONLY = (
    "number",
    "trigger",
    "triggered_by",
    "started_at",
    "duration_ms",
    "sent",
    "status_code",
    "provider_reply",
    "response_excerpt",
    "provider_message_id",
)
_RECORD_COLUMN_NAMES = ("k", "t", "s", "w", "n", "r", "rnb", "fr", "fc", "cat", "sd", "at", "trig", *_ATTEMPT_ONLY)


_MOVE_ON = (
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

#: The same writes as `_not_yet_recorded` + `stream_events.record_attempts` + `attempts.insert()` +
#: `_MOVE_ON`, for PostgreSQL, with one array per column. The events' payloads must read as those of
#: `stream_events.record_attempts`; tests/test_delivery.py reads them on both databases.
_RECORD_OVER_ARRAYS = text(
    """
    WITH v AS (
        SELECT * FROM unnest(
            CAST(:k AS text[]), CAST(:t AS text[]), CAST(:s AS text[]), CAST(:w AS text[]),
            CAST(:n AS timestamptz[]), CAST(:r AS integer[]), CAST(:rnb AS timestamptz[]), CAST(:fr AS text[]),
            CAST(:fc AS text[]), CAST(:cat AS text[]), CAST(:sd AS timestamptz[]), CAST(:at AS timestamptz[]),
            CAST(:trig AS text[]), CAST(:number AS integer[]), CAST(:trigger AS text[]),
            CAST(:triggered_by AS text[]), CAST(:started_at AS timestamptz[]),
            CAST(:duration_ms AS double precision[]), CAST(:sent AS boolean[]), CAST(:status_code AS integer[]),
            CAST(:provider_reply AS text[]), CAST(:response_excerpt AS text[]),
            CAST(:provider_message_id AS text[])
        ) WITH ORDINALITY AS v(
            k, t, s, w, n, r, rnb, fr, fc, cat, sd, at, trig, number, a_trigger, triggered_by, started_at,
            duration_ms, sent, status_code, provider_reply, response_excerpt, provider_message_id, ord
        )
        WHERE NOT EXISTS (SELECT 1 FROM attempts AS a WHERE a.message_key = v.k AND a.number = v.number)
    ),
    moved AS (
        UPDATE messages AS m
        SET state = v.s, waiting_reason = v.w, next_attempt_at = v.n, num_retries = v.r,
            retry_not_before = v.rnb, failure_reason = v.fr, failure_cause = v.fc, failure_category = v.cat,
            send_date = COALESCE(v.sd, m.send_date), trigger = v.trig, lease_token = NULL, updated_at = v.at
        FROM v
        WHERE m.encoded_key = v.k AND m.lease_token = v.t
        RETURNING m.encoded_key
    ),
    attempted AS (
        INSERT INTO attempts (
            message_key, number, trigger, triggered_by, started_at, duration_ms, sent, status_code,
            provider_reply, response_excerpt, provider_message_id, failure_reason, failure_category, failure_cause
        )
        SELECT k, number, a_trigger, triggered_by, started_at, duration_ms, sent, status_code,
            provider_reply, response_excerpt, provider_message_id, fr, cat, fc
        FROM v
    )
    INSERT INTO events (workspace_id, kind, message_key, message_type, payload, created_at)
    SELECT m.workspace_id, e.kind, m.encoded_key, m.type, e.payload, v.at
    FROM v
    JOIN messages AS m ON m.encoded_key = v.k
    CROSS JOIN LATERAL (
        VALUES
            (1, 'attempt.made', json_build_object(
                'number', v.number, 'trigger', v.a_trigger, 'sent', v.sent, 'statusCode', v.status_code,
                'durationMs', round(CAST(v.duration_ms AS numeric), 3), 'failureReason', v.fr,
                'failureCategory', v.cat)),
            (2, 'state.changed', json_build_object(
                'state', v.s, 'previousState', 'SENDING_ASYNC', 'waitingReason', v.w,
                'nextAttemptAt', v.n, 'failureReason', v.fr))
    ) AS e(i, kind, payload)
    WHERE e.i = 1 OR v.k IN (SELECT encoded_key FROM moved)
    ORDER BY v.ord, e.i
    """
)


def _category(outcome: DeliveryOutcome) -> str | None:
    category = outcome.category
    return None if category is None else category.value


async def release(
    conn: AsyncConnection, lease_token: str, keys: Sequence[str], now: datetime, until: datetime | None = None
) -> None:
    """Hand unfinished claims back at once (graceful shutdown), instead of waiting for the lease;
    with `until`, due again only then (a destination that already has enough in flight)."""
    if not keys:
        return
    await conn.execute(
        update(messages)
        .where(messages.c.encoded_key.in_(list(keys)), messages.c.lease_token == lease_token)
        .values(
            state=case((messages.c.num_retries == 0, MessageState.QUEUED.value), else_=MessageState.WAITING.value),
            waiting_reason=case((messages.c.num_retries == 0, None), else_="READY_TO_BE_SENT"),
            next_attempt_at=until or now,
            lease_token=None,
            attempt_count=messages.c.attempt_count - 1,
            updated_at=now,
        )
    )


async def wait_for_circuit(
    conn: AsyncConnection, lease_token: str, keys: Sequence[str], until: datetime, now: datetime
) -> None:
    """Hand claims back unattempted because their destination's circuit is open: WAITING with
    WAIT_FOR_CLOSE_CIRCUIT until `until`; no attempt is recorded and no retry is used up."""
    if not keys:
        return
    await conn.execute(
        update(messages)
        .where(messages.c.encoded_key.in_(list(keys)), messages.c.lease_token == lease_token)
        .values(
            state=MessageState.WAITING.value,
            waiting_reason=WaitingReason.WAIT_FOR_CLOSE_CIRCUIT.value,
            next_attempt_at=until,
            lease_token=None,
            attempt_count=messages.c.attempt_count - 1,
            updated_at=now,
        )
    )


async def sweep(conn: AsyncConnection, workspace_id: str, max_sweeps: int, now: datetime) -> int:
    """Seed 003's sweep: put FAILED, retryable messages whose wait has passed back in the queue
    (and those over a daily limit, once it has reset)."""
    result = await conn.execute(
        update(messages)
        .where(
            messages.c.workspace_id == workspace_id,
            messages.c.state == MessageState.FAILED.value,
            or_(
                messages.c.failure_category == FailureCategory.RETRYABLE.value,
                messages.c.failure_reason.in_(sorted(LIFTS_AFTER_WAIT)),
            ),
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
