"""The event stream's store: events written in the transaction of the change they describe, handed
a cursor (`seq`) in commit order, and read by subscribers after a cursor.

Why two numbers: `id` is drawn when a row is inserted, but transactions commit in another order, so
a reader that trusted `id` could pass a row that commits later and never see it. `sequence()`
numbers committed rows one batch at a time, under a lock on PostgreSQL (SQLite has one writer), so
every `seq` a reader can see is above every `seq` it saw before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.events import EventKind
from commlog.domain.states import MessageState
from commlog.store.tables import events, stream_acks
from commlog.store.types import UTCDateTime

if TYPE_CHECKING:
    from commlog.store.queue import AttemptResult

#: Rows numbered per `sequence()` call; a reader calls it again when it finds more.
SEQUENCE_BATCH = 5000
#: Any constant works; it only has to be the same in every process (pg_try_advisory_xact_lock).
_SEQUENCER_LOCK = 0x636F6D6D6C6F67


async def record_created(conn: AsyncConnection, rows: Iterable[Mapping[str, Any]]) -> None:
    """One `message.created` event per new message row, in the transaction that inserts them."""
    values = [
        {
            "workspace_id": row["workspace_id"],
            "kind": EventKind.MESSAGE_CREATED.value,
            "message_key": row["encoded_key"],
            "message_type": row["type"],
            "payload": {
                "state": row["state"],
                "destination": row["destination"],
                "event": row.get("event"),
                "origin": row.get("origin") or "FIRST_SEND",
                "parentKey": row.get("parent_key"),
            },
            "created_at": row["creation_date"],
        }
        for row in rows
    ]
    if values:
        await conn.execute(insert(events), values)


async def record_attempts(conn: AsyncConnection, results: Sequence[AttemptResult]) -> None:
    """`attempt.made` and `state.changed` for a batch of recorded attempts, in one statement.

    It must run before the batch's state changes are written: a state change is only an event
    while the writer still holds the lease, which is what `queue.record` checks as well.
    """
    if not results:
        return
    rows: list[dict[str, Any]] = []
    for r in results:
        common = {"k": r.message_key, "t": r.lease_token, "at": r.finished_at}
        attempt = {
            "number": r.number,
            "trigger": r.trigger,
            "sent": r.outcome.sent,
            "statusCode": r.outcome.status_code,
            "durationMs": round(r.duration_ms, 3),
            "failureReason": r.outcome.failure_reason,
            "failureCategory": None if r.outcome.category is None else r.outcome.category.value,
        }
        state = {
            "state": r.next_step.state.value,
            "previousState": MessageState.SENDING_ASYNC.value,
            "waitingReason": r.next_step.waiting_reason.value if r.next_step.waiting_reason else None,
            "nextAttemptAt": r.next_step.next_attempt_at.isoformat() if r.next_step.next_attempt_at else None,
            "failureReason": r.outcome.failure_reason,
        }
        rows.append({**common, "kind": EventKind.ATTEMPT_MADE.value, "p": json.dumps(attempt)})
        rows.append({**common, "kind": EventKind.STATE_CHANGED.value, "p": json.dumps(state)})
    if conn.dialect.name == "postgresql":
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        await conn.execute(_ATTEMPT_EVENTS_OVER_ARRAYS, columns)
    else:
        await conn.execute(_ATTEMPT_EVENT, rows)


_ATTEMPT_EVENT = text(
    """
    INSERT INTO events (workspace_id, kind, message_key, message_type, payload, created_at)
    SELECT m.workspace_id, :kind, m.encoded_key, m.type, :p, :at
    FROM messages AS m
    WHERE m.encoded_key = :k AND (:kind = 'attempt.made' OR m.lease_token = :t)
    """
).bindparams(bindparam("at", type_=UTCDateTime()))

_ATTEMPT_EVENTS_OVER_ARRAYS = text(
    """
    INSERT INTO events (workspace_id, kind, message_key, message_type, payload, created_at)
    SELECT m.workspace_id, v.kind, m.encoded_key, m.type, CAST(v.p AS json), v.at
    FROM unnest(
        CAST(:kind AS text[]), CAST(:k AS text[]), CAST(:t AS text[]), CAST(:p AS text[]),
        CAST(:at AS timestamptz[])
    ) WITH ORDINALITY AS v(kind, k, t, p, at, ord)
    JOIN messages AS m ON m.encoded_key = v.k
    WHERE v.kind = 'attempt.made' OR m.lease_token = v.t
    ORDER BY v.ord
    """
)


async def publish_notification(
    conn: AsyncConnection,
    *,
    workspace_id: str,
    message_key: str,
    subscriber: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """A stream notification for `subscriber`, which it answers by acknowledging the message."""
    await conn.execute(
        insert(events).values(
            workspace_id=workspace_id,
            kind=EventKind.NOTIFICATION.value,
            message_key=message_key,
            message_type="EVENT_STREAM",
            subscriber=subscriber,
            payload=payload,
            created_at=now,
        )
    )


async def sequence(conn: AsyncConnection) -> None:
    """Give committed, unnumbered events their cursor, in insertion order; commit right after."""
    pending = await conn.scalar(select(events.c.id).where(events.c.seq.is_(None)).limit(1))
    if pending is None:
        return
    if conn.dialect.name == "postgresql" and not await conn.scalar(
        select(func.pg_try_advisory_xact_lock(_SEQUENCER_LOCK))
    ):
        return  # another reader is numbering them right now
    top = select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.seq.is_not(None)).scalar_subquery()
    todo = (
        select(events.c.id, (func.row_number().over(order_by=events.c.id) + top).label("next_seq"))
        .where(events.c.seq.is_(None))
        .order_by(events.c.id)
        .limit(SEQUENCE_BATCH)
        .subquery()
    )
    await conn.execute(update(events).where(events.c.id == todo.c.id).values(seq=todo.c.next_seq))


async def read(
    conn: AsyncConnection,
    workspace_id: str,
    after: int,
    limit: int,
    kinds: Sequence[str] = (),
    types: Sequence[str] = (),
    subscriber: str | None = None,
) -> list[Any]:
    """The workspace's numbered events after cursor `after`, oldest first."""
    query = (
        select(events)
        .where(events.c.workspace_id == workspace_id, events.c.seq > after)
        .order_by(events.c.seq)
        .limit(limit)
    )
    if kinds:
        query = query.where(events.c.kind.in_(list(kinds)))
    if types:
        query = query.where(events.c.message_type.in_(list(types)))
    if subscriber is not None:
        query = query.where(events.c.kind == EventKind.NOTIFICATION.value, events.c.subscriber == subscriber)
    return list(await conn.execute(query))


async def acknowledge(conn: AsyncConnection, workspace_id: str, message_key: str, actor: str, now: datetime) -> None:
    """Keep a subscriber's acknowledgement; the first one counts, repeats change nothing."""
    values = {"message_key": message_key, "workspace_id": workspace_id, "acked_at": now, "acked_by": actor}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(stream_acks).values(**values).on_conflict_do_nothing())


async def acknowledged(conn: AsyncConnection, message_keys: Sequence[str]) -> set[str]:
    """Which of `message_keys` a subscriber has acknowledged."""
    if not message_keys:
        return set()
    found = await conn.execute(select(stream_acks.c.message_key).where(stream_acks.c.message_key.in_(message_keys)))
    return {row.message_key for row in found}
