"""Messages written straight into the store, for tests that need a log in a given shape fast."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.states import MessageState
from commlog.store.messages import new_message_row
from commlog.store.tables import attempts, messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, create_workspace, ensure_workspace


async def workspace_id(engine: AsyncEngine, now: datetime, name: str = DEFAULT_WORKSPACE) -> str:
    if name == DEFAULT_WORKSPACE:
        return (await ensure_workspace(engine, name, now)).id
    async with engine.begin() as conn:
        return (await create_workspace(conn, name, now)).id


#: A delivery attempt behind a stored message: its trigger, and whether it delivered.
Try = tuple[str, bool]


async def stored_message(
    engine: AsyncEngine,
    workspace: str,
    now: datetime,
    state: MessageState = MessageState.FAILED,
    tries: Sequence[Try] = (("FIRST_SEND", False),),
    **fields: Any,
) -> str:
    """A webhook message created at `now` in `state`, with `tries` made at `now` behind it;
    `fields` may set any column."""
    row = new_message_row(workspace, {"type": "WEB_HOOK", "destination": "https://example.com/hook", "body": "{}"}, now)
    final = state in (MessageState.FAILED, MessageState.SENT)
    failed = state is MessageState.FAILED
    row.update(
        state=state.value,
        next_attempt_at=None if final else now,
        failure_reason="SERVER_ERROR" if failed else None,
        failure_category="RETRYABLE" if failed else None,
        attempt_count=len(tries),
        **fields,
    )
    async with engine.begin() as conn:
        await conn.execute(messages.insert(), [row])
        for number, (trigger, sent) in enumerate(tries, start=1):
            await conn.execute(
                attempts.insert().values(
                    message_key=row["encoded_key"],
                    number=number,
                    trigger=trigger,
                    triggered_by="SYSTEM",
                    started_at=now,
                    duration_ms=1.0,
                    sent=sent,
                    status_code=200 if sent else 500,
                    failure_reason=None if sent else "SERVER_ERROR",
                    failure_category=None if sent else "RETRYABLE",
                )
            )
    return str(row["encoded_key"])


async def children(engine: AsyncEngine, key: str) -> list[Any]:
    """The messages made from `key` by resend or reprocess."""
    async with engine.connect() as conn:
        return list(await conn.execute(select(messages).where(messages.c.parent_key == key)))


async def message_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(messages))).scalar_one())
