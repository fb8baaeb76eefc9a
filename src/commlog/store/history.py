"""A message's retry history (seed 003): the whole timeline of its resend chain.

A chain is an original and every message made from it by resend or reprocess, found by `root_key`.
The timeline interleaves every delivery attempt of every message in the chain (first send,
automatic retries, daily sweeps, and the attempts of the resends) with every resend and reprocess,
each with when, what triggered it, who, and how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.store.tables import attempts, messages


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of the timeline: a delivery attempt (with its row), or a message sent again as a
    new one."""

    at: datetime
    kind: str  # "ATTEMPT" or "SENT_AGAIN"
    message_key: str
    trigger: str
    triggered_by: str
    outcome: str
    new_message_key: str | None = None
    attempt: Any | None = None


@dataclass(frozen=True, slots=True)
class History:
    key: str
    root_key: str
    #: The chain's message rows, the original first and each resend after the message it resends.
    messages: list[Any]
    events: list[HistoryEvent]


async def message_history(conn: AsyncConnection, workspace_id: str, key: str) -> History | None:
    """The timeline of the chain `key` belongs to, oldest first; None if no such message here."""
    root = (
        await conn.execute(
            select(func.coalesce(messages.c.root_key, messages.c.encoded_key)).where(
                messages.c.workspace_id == workspace_id, messages.c.encoded_key == key
            )
        )
    ).scalar_one_or_none()
    if root is None:
        return None
    found = await conn.execute(
        select(messages).where(
            messages.c.workspace_id == workspace_id,
            or_(messages.c.encoded_key == root, messages.c.root_key == root),
        )
    )
    chain = _in_order(list(found))
    keys = [m.encoded_key for m in chain]
    events = [_sent_again(m) for m in chain if m.parent_key is not None]
    tried = await conn.execute(select(attempts).where(attempts.c.message_key.in_(keys)))
    events.extend(_attempt(row) for row in tried)
    # A chain is a line (each message is sent again at most once, and only when final), so its
    # order is the timeline's: a message's attempts, then the resend that made the next message.
    position = {m.encoded_key: index for index, m in enumerate(chain)}
    events.sort(
        key=lambda e: (
            position[e.new_message_key or e.message_key],
            e.kind == "ATTEMPT",
            e.at,
            e.attempt.number if e.attempt is not None else 0,
        )
    )
    return History(key, root, chain, events)


def _in_order(chain: list[Any]) -> list[Any]:
    """Oldest first, and a message always after the one it was made from, even within one tick."""
    parents = {m.encoded_key: m.parent_key for m in chain}

    def depth(key: str | None) -> int:
        steps = 0
        while key is not None and parents.get(key) is not None:
            key, steps = parents[key], steps + 1
        return steps

    return sorted(chain, key=lambda m: (m.creation_date, depth(m.encoded_key), m.encoded_key))


def _sent_again(message: Any) -> HistoryEvent:
    return HistoryEvent(
        at=message.creation_date,
        kind="SENT_AGAIN",
        message_key=message.parent_key,
        trigger=message.origin,
        triggered_by=message.sender_key,
        outcome="CREATED",
        new_message_key=message.encoded_key,
    )


def _attempt(row: Any) -> HistoryEvent:
    outcome = "SENT" if row.sent else "FAILED"
    return HistoryEvent(row.started_at, "ATTEMPT", row.message_key, row.trigger, row.triggered_by, outcome, None, row)
