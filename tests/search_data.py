"""Messages stored straight into the log, in any state and at any time, for the search tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.store.messages import SUBMITTED_FIELDS, insert_messages, new_message_row
from commlog.store.tables import messages, workspaces
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace

HOOK = {"type": "WEB_HOOK", "destination": "https://example.com/hook", "body": "Demo body content"}


async def store(engine: AsyncEngine, at: datetime, **fields: Any) -> str:
    """One message created at `at`; columns beyond the submitted ones (state, send_date...) are set as given."""
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, at)
    submitted = {**HOOK, **fields}
    row = new_message_row(workspace.id, submitted, at)
    row.update({k: v for k, v in fields.items() if k not in SUBMITTED_FIELDS})
    async with engine.begin() as conn:
        [(stored, _)] = await insert_messages(conn, [row])
    return str(stored.encoded_key)


async def set_time_zone(engine: AsyncEngine, zone: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(workspaces).where(workspaces.c.name == DEFAULT_WORKSPACE).values(time_zone=zone))


async def all_keys(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return {row.encoded_key for row in await conn.execute(select(messages.c.encoded_key))}
