"""Sending messages again: resend (the stored rendered content, seed 000) and reprocess (rendered
afresh from the stored input, seed 002).

Either way the result is a new message linked to the one it was made from (`parent_key`, and the
chain's first message in `root_key`); the original keeps its state and attempts and is stamped with
`resent_at`/`resent_by`. That stamp is taken by one guarded UPDATE (`... AND resent_at IS NULL`),
so of two people resending the same message at the same moment exactly one gets it: PostgreSQL
re-checks the condition after the first transaction commits, SQLite runs the writers one by one.

Each call is all or nothing: when any named message cannot be sent again it raises
`SendAgainRefused` naming every such key, and the caller's transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.render import RenderError, render
from commlog.domain.resend import (
    Candidate,
    Refusal,
    RefusedMessage,
    not_renderable,
    reprocess_refusal,
    resend_refusal,
)
from commlog.domain.states import MessageState, Trigger
from commlog.store import events
from commlog.store.messages import SUBMITTED_FIELDS, new_message_row
from commlog.store.tables import messages

#: Columns a resend carries over unchanged from the message it resends (the rendered content and
#: what it is about); state, dates, attempts and the sender are the new message's own.
CARRIED = tuple(name for name in SUBMITTED_FIELDS if name not in ("sender_key", "parent_key", "idempotency_key"))
_RETURNED = [messages.c.encoded_key, messages.c.root_key, *(messages.c[name] for name in CARRIED)]

#: Most messages one resend by filter or by date may resend; the answer says how many more matched.
MAX_BULK = 50_000
#: Keys bound in one statement; well under SQLite's and asyncpg's limits on parameters.
_CHUNK = 5_000


class SendAgainRefused(Exception):
    """Some named messages cannot be sent again; nothing was."""

    def __init__(self, refused: Sequence[RefusedMessage]) -> None:
        super().__init__("; ".join(r.message for r in refused))
        self.refused = list(refused)


@dataclass(frozen=True, slots=True)
class Resent:
    original_key: str
    new_key: str


@dataclass(frozen=True, slots=True)
class BulkResend:
    """The answer to a resend by filter or date: what was (or, in a dry run, would be) resent."""

    matched: int
    resent: list[Resent]
    dry_run: bool


def resendable(workspace_id: str) -> ColumnElement[bool]:
    """FAILED messages of the workspace that nobody has sent again yet."""
    return and_(
        messages.c.workspace_id == workspace_id,
        messages.c.state == MessageState.FAILED.value,
        messages.c.resent_at.is_(None),
    )


async def resend_keys(
    conn: AsyncConnection, workspace_id: str, keys: Sequence[str], actor: str, now: datetime
) -> list[Resent]:
    """Resend every named FAILED message, in the order named, or none of them."""
    taken = await _take(conn, and_(resendable(workspace_id), messages.c.encoded_key.in_(list(keys))), actor, now)
    if len(taken) < len(keys):
        found = {row.encoded_key for row in taken}
        candidates = await _candidates(conn, workspace_id, [k for k in keys if k not in found])
        raise SendAgainRefused(
            [resend_refusal(candidates.get(k), k) or _changed_meanwhile(k) for k in keys if k not in found]
        )
    by_key = {row.encoded_key: row for row in taken}
    return await _insert(conn, _copies([by_key[k] for k in keys]), workspace_id, actor, now, Trigger.MANUAL_RESEND)


async def resend_matching(
    conn: AsyncConnection,
    workspace_id: str,
    condition: ColumnElement[bool],
    actor: str,
    now: datetime,
    limit: int = MAX_BULK,
    dry_run: bool = False,
) -> BulkResend:
    """Resend the FAILED, not yet resent messages matching `condition`, oldest first, up to `limit`."""
    eligible = and_(resendable(workspace_id), condition)
    matched = int((await conn.execute(select(func.count()).select_from(messages).where(eligible))).scalar_one())
    if dry_run:
        return BulkResend(matched, [], True)
    chosen = (
        select(messages.c.encoded_key)
        .where(eligible)
        .order_by(messages.c.creation_date, messages.c.encoded_key)
        .limit(min(limit, MAX_BULK))
    )
    keys = list((await conn.execute(chosen)).scalars())
    # Stamped by key, in chunks: an index lookup per key whatever the planner knows of the table
    # (an UPDATE over the sub-select can turn into a nested loop on a freshly loaded table).
    taken = []
    for start in range(0, len(keys), _CHUNK):
        some = messages.c.encoded_key.in_(keys[start : start + _CHUNK])
        taken += await _take(conn, and_(resendable(workspace_id), some), actor, now)
    taken.sort(key=lambda row: row.encoded_key)
    resent = await _insert(conn, _copies(taken), workspace_id, actor, now, Trigger.MANUAL_RESEND)
    return BulkResend(matched, resent, False)


async def reprocess(conn: AsyncConnection, workspace_id: str, key: str, actor: str, now: datetime) -> Resent:
    """Send `key` again as a new message rendered afresh from its stored input (seed 002)."""
    eligible = and_(
        messages.c.workspace_id == workspace_id,
        messages.c.encoded_key == key,
        messages.c.state.in_([MessageState.FAILED.value, MessageState.SENT.value]),
        messages.c.resent_at.is_(None),
    )
    taken = await _take(conn, eligible, actor, now)
    if not taken:
        candidate = (await _candidates(conn, workspace_id, [key])).get(key)
        raise SendAgainRefused([reprocess_refusal(candidate, key) or _changed_meanwhile(key)])
    [original] = taken
    try:
        content = render(original.input)
    except RenderError as error:
        raise SendAgainRefused([not_renderable(key, str(error))]) from error
    fields = {name: getattr(original, name) for name in CARRIED}
    fields.update(destination=content.destination, subject=content.subject, body=content.body, headers=content.headers)
    [resent] = await _insert(conn, [(original, fields)], workspace_id, actor, now, Trigger.REPROCESS)
    return resent


async def _take(conn: AsyncConnection, condition: ColumnElement[bool], actor: str, now: datetime) -> list[Row[Any]]:
    """Stamp the matching messages as sent again by `actor`; the rows this call won."""
    statement = (
        update(messages).where(condition).values(resent_at=now, resent_by=actor, updated_at=now).returning(*_RETURNED)
    )
    return list(await conn.execute(statement))


def _copies(originals: Sequence[Row[Any]]) -> list[tuple[Row[Any], dict[str, Any]]]:
    """Each original with its rendered content unchanged (seed 000)."""
    return [(row, {name: getattr(row, name) for name in CARRIED}) for row in originals]


async def _insert(
    conn: AsyncConnection,
    pairs: Sequence[tuple[Row[Any], dict[str, Any]]],
    workspace_id: str,
    actor: str,
    now: datetime,
    origin: Trigger,
) -> list[Resent]:
    """Queue one new message per (original, content), sent by `actor` and linked to its original."""
    rows = []
    for original, fields in pairs:
        row = new_message_row(
            workspace_id, {**fields, "sender_key": actor, "parent_key": original.encoded_key}, now, origin
        )
        row.update(root_key=original.root_key or original.encoded_key, origin=origin.value)
        rows.append(row)
    if rows:
        await conn.execute(messages.insert(), rows)
        await events.record_created(conn, rows)
    return [Resent(original.encoded_key, row["encoded_key"]) for (original, _), row in zip(pairs, rows, strict=True)]


async def _candidates(conn: AsyncConnection, workspace_id: str, keys: Sequence[str]) -> dict[str, Candidate]:
    """What the refusal rules need about `keys`, with the newest message each was sent again as."""
    found = await conn.execute(
        select(messages.c.encoded_key, messages.c.state, messages.c.resent_at, messages.c.resent_by).where(
            messages.c.workspace_id == workspace_id, messages.c.encoded_key.in_(list(keys))
        )
    )
    rows = list(found)
    children = {
        row.parent_key: row.encoded_key
        for row in await conn.execute(
            select(messages.c.parent_key, messages.c.encoded_key)
            .where(messages.c.parent_key.in_([r.encoded_key for r in rows if r.resent_at is not None]))
            .order_by(messages.c.creation_date)
        )
    }
    return {
        row.encoded_key: Candidate(
            row.encoded_key, MessageState(row.state), row.resent_at, row.resent_by, children.get(row.encoded_key)
        )
        for row in rows
    }


def _changed_meanwhile(key: str) -> RefusedMessage:
    return RefusedMessage(key, Refusal.ALREADY_RESENT, f"message {key!r} changed while it was being resent; try again")
