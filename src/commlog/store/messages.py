"""Writing and reading messages and their attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.fanout import CONTENT_FIELDS, SHARED_FIELDS
from commlog.domain.keys import new_key
from commlog.domain.states import SYSTEM_SENDER, MessageState, Trigger
from commlog.store import events
from commlog.store.tables import attempts, messages

#: Rows per INSERT statement: keeps each statement under PostgreSQL's 32,767 bind parameters.
INSERT_CHUNK = 400

#: Fields a caller may set when submitting a message (the store's column names): the content, what a
#: notification shares with every message it fans out into, and the links.
SUBMITTED_FIELDS = (
    "type",
    "destination",
    *CONTENT_FIELDS,
    *SHARED_FIELDS,
    "idempotency_key",
    "parent_key",
    "notification_key",
)


def new_message_row(
    workspace_id: str, fields: dict[str, Any], now: datetime, trigger: Trigger = Trigger.FIRST_SEND
) -> dict[str, Any]:
    """A complete row for a message that a worker should send at once."""
    row: dict[str, Any] = {name: fields.get(name) for name in SUBMITTED_FIELDS}
    row.update(
        encoded_key=new_key(),
        workspace_id=workspace_id,
        state=MessageState.QUEUED.value,
        sender_key=fields.get("sender_key") or SYSTEM_SENDER,
        trigger=trigger.value,
        num_retries=0,
        num_sweeps=0,
        attempt_count=0,
        creation_date=now,
        updated_at=now,
        next_attempt_at=now,
    )
    return row


def _insert_ignoring_duplicates(conn: AsyncConnection) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(messages).on_conflict_do_nothing()
    return sqlite.insert(messages).on_conflict_do_nothing()


async def insert_messages(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, bool]]:
    """Insert rows, each paired with whether it was created; a row whose idempotency key was already
    used in its workspace yields the message stored first instead."""
    if not rows:
        return []
    statement = _insert_ignoring_duplicates(conn).returning(*messages.c)
    stored: dict[str, Any] = {}
    for start in range(0, len(rows), INSERT_CHUNK):
        for row in await conn.execute(statement, list(rows[start : start + INSERT_CHUNK])):
            stored[row.encoded_key] = row
    await events.record_created(conn, [row._mapping for row in stored.values()])
    replayed_keys = [(r["workspace_id"], r["idempotency_key"]) for r in rows if r["encoded_key"] not in stored]
    originals: dict[tuple[str, str], Any] = {}
    if replayed_keys:
        found = await conn.execute(
            select(messages).where(tuple_(messages.c.workspace_id, messages.c.idempotency_key).in_(replayed_keys))
        )
        originals = {(row.workspace_id, row.idempotency_key): row for row in found}
    result: list[tuple[Any, bool]] = []
    for r in rows:
        if r["encoded_key"] in stored:
            result.append((stored[r["encoded_key"]], True))
        else:
            result.append((originals[(r["workspace_id"], r["idempotency_key"])], False))
    return result


async def get_message(conn: AsyncConnection, workspace_id: str, key: str) -> Any | None:
    query = select(messages).where(messages.c.encoded_key == key, messages.c.workspace_id == workspace_id)
    return (await conn.execute(query)).one_or_none()


async def get_attempts(conn: AsyncConnection, key: str) -> list[Any]:
    query = select(attempts).where(attempts.c.message_key == key).order_by(attempts.c.number, attempts.c.id)
    return list(await conn.execute(query))
