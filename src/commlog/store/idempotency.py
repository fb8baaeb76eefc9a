"""Idempotent resend requests: the first answer to an `Idempotency-Key` is kept and replayed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.store.tables import resend_requests


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    fingerprint: str
    status_code: int
    response: Any


async def find_answer(conn: AsyncConnection, workspace_id: str, key: str) -> StoredAnswer | None:
    row = (
        await conn.execute(
            select(resend_requests.c.fingerprint, resend_requests.c.status_code, resend_requests.c.response).where(
                resend_requests.c.workspace_id == workspace_id, resend_requests.c.idempotency_key == key
            )
        )
    ).one_or_none()
    return None if row is None else StoredAnswer(row.fingerprint, row.status_code, row.response)


async def keep_answer(conn: AsyncConnection, workspace_id: str, key: str, answer: StoredAnswer, now: datetime) -> None:
    """Store the answer in the request's own transaction; a concurrent twin fails on the key."""
    await conn.execute(
        resend_requests.insert().values(
            workspace_id=workspace_id,
            idempotency_key=key,
            fingerprint=answer.fingerprint,
            status_code=answer.status_code,
            response=answer.response,
            created_at=now,
        )
    )
