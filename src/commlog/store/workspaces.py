"""Workspaces and their settings: signing secret, retry policy, sweep bookkeeping."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from commlog.domain.keys import new_key
from commlog.domain.retry import RetryPolicy
from commlog.store.tables import workspaces

DEFAULT_WORKSPACE = "default"

#: API names of the retry policy's parameters, in the order the API shows them.
POLICY_FIELDS: dict[str, str] = {
    "maxRetries": "max_retries",
    "backOffDelay": "back_off_delay",
    "delayFactor": "delay_factor",
    "backOffMaxDelay": "back_off_max_delay",
    "sweepEnabled": "sweep_enabled",
    "sweepIntervalSeconds": "sweep_interval",
    "sweepMaxAttempts": "sweep_max_attempts",
}


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def policy_from_json(stored: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(**{POLICY_FIELDS[k]: v for k, v in stored.items() if k in POLICY_FIELDS})


def policy_to_json(policy: RetryPolicy) -> dict[str, Any]:
    return {api: getattr(policy, attr) for api, attr in POLICY_FIELDS.items()}


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    time_zone: str
    signing_secret: str
    retry_policy: RetryPolicy
    last_sweep_at: datetime | None
    #: Provider settings by message type (e.g. {"EMAIL": {"host": ...}}); secrets included.
    channel_settings: dict[str, dict[str, Any]]

    @classmethod
    def from_row(cls, row: Any) -> Workspace:
        return cls(
            id=row.id,
            name=row.name,
            time_zone=row.time_zone,
            signing_secret=row.signing_secret,
            retry_policy=policy_from_json(row.retry_policy),
            last_sweep_at=row.last_sweep_at,
            channel_settings=row.channel_settings or {},
        )


async def create_workspace(conn: AsyncConnection, name: str, now: datetime) -> Workspace:
    values = {
        "id": new_key(),
        "name": name,
        "time_zone": "UTC",
        "signing_secret": new_signing_secret(),
        "retry_policy": policy_to_json(RetryPolicy()),
        "channel_settings": {},
        # The first sweep runs one interval after the workspace exists, not at once.
        "last_sweep_at": now,
        "created_at": now,
    }
    await conn.execute(workspaces.insert().values(values))
    row = (await conn.execute(select(workspaces).where(workspaces.c.id == values["id"]))).one()
    return Workspace.from_row(row)


async def get_workspace_by_name(conn: AsyncConnection, name: str) -> Workspace | None:
    row = (await conn.execute(select(workspaces).where(workspaces.c.name == name))).one_or_none()
    return None if row is None else Workspace.from_row(row)


async def get_workspace(conn: AsyncConnection, workspace_id: str) -> Workspace | None:
    row = (await conn.execute(select(workspaces).where(workspaces.c.id == workspace_id))).one_or_none()
    return None if row is None else Workspace.from_row(row)


async def ensure_workspace(engine: AsyncEngine, name: str, now: datetime) -> Workspace:
    """The named workspace, created on first use; safe when several processes start together."""
    async with engine.connect() as conn:
        found = await get_workspace_by_name(conn, name)
    if found is not None:
        return found
    try:
        async with engine.begin() as conn:
            return await create_workspace(conn, name, now)
    except Exception:
        async with engine.connect() as conn:
            found = await get_workspace_by_name(conn, name)
        if found is None:
            raise
        return found


async def all_workspaces(conn: AsyncConnection) -> list[Workspace]:
    return [Workspace.from_row(row) for row in await conn.execute(select(workspaces))]


async def set_signing_secret(conn: AsyncConnection, workspace_id: str, secret: str) -> None:
    await conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(signing_secret=secret))


async def set_time_zone(conn: AsyncConnection, workspace_id: str, time_zone: str) -> None:
    await conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(time_zone=time_zone))


async def set_retry_policy(conn: AsyncConnection, workspace_id: str, policy: RetryPolicy) -> None:
    await conn.execute(
        update(workspaces).where(workspaces.c.id == workspace_id).values(retry_policy=policy_to_json(policy))
    )


async def take_sweep_turn(conn: AsyncConnection, workspace: Workspace, now: datetime) -> bool:
    """Claim this workspace's sweep if it is due; only one of many workers wins the turn."""
    due_before = now - timedelta(seconds=workspace.retry_policy.sweep_interval)
    result = await conn.execute(
        update(workspaces)
        .where(
            workspaces.c.id == workspace.id,
            or_(workspaces.c.last_sweep_at.is_(None), workspaces.c.last_sweep_at <= due_before),
        )
        .values(last_sweep_at=now)
    )
    return result.rowcount == 1


async def set_channel_settings(
    conn: AsyncConnection, workspace_id: str, channel: str, settings: dict[str, Any] | None
) -> None:
    """Replace (or with None remove) one channel's provider settings, leaving the others as they are."""
    current = (
        await conn.execute(
            select(workspaces.c.channel_settings).where(workspaces.c.id == workspace_id).with_for_update()
        )
    ).scalar_one()
    updated = {k: v for k, v in (current or {}).items() if k != channel}
    if settings is not None:
        updated[channel] = settings
    await conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(channel_settings=updated))
