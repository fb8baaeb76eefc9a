"""Seed 003's business-logic limits: daily sending limits per channel and the suppression list.

Reading needs the view permission (an agent can see why a message was held back); changing needs
manage settings, and every change goes to the audit trail in its own transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import ConfigDict, StringConstraints, field_validator
from sqlalchemy.exc import IntegrityError

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.routes.settings import workspace_of
from commlog.api.schemas import CamelModel, Date
from commlog.domain.clock import zone_named
from commlog.domain.limits import ALL_CHANNELS, local_day, next_reset, parse_daily_limits
from commlog.domain.permissions import Permission
from commlog.domain.states import MessageType
from commlog.store import limits as store_limits
from commlog.store import suppressions as store_suppressions
from commlog.store.accounts import record_audit

router = APIRouter(prefix="/api", tags=["limits"])


@router.get("/settings/limits")
async def read_limits(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS))
) -> dict[str, Any]:
    """The daily limit per channel (null = unlimited), what was sent today, and when the day resets."""
    workspace = await workspace_of(ctx, caller.workspace_id)
    zone = zone_named(workspace.time_zone)
    now = ctx.clock()
    async with ctx.engine.connect() as conn:
        limits = await store_limits.limits_of(conn, [caller.workspace_id])
        used = await store_limits.used_on(conn, caller.workspace_id, local_day(now, zone).isoformat())
    return {
        "dailyLimits": {ch.value: limits.get((caller.workspace_id, ch.value)) for ch in MessageType},
        "sentToday": {ch.value: used.get(ch.value, 0) for ch in MessageType},
        "timeZone": workspace.time_zone,
        "resetsAt": next_reset(now, zone).isoformat(timespec="milliseconds"),
    }


@router.put("/settings/limits")
async def write_limits(
    body: dict[str, Any] = Body(examples=[{"dailyLimits": {"SMS": 1000, "EMAIL": None}}]),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> dict[str, Any]:
    """Replace the daily limits: a channel left out or null is unlimited, 0 sends nothing."""
    unknown = [Problem(field, "is not a known field") for field in body if field != "dailyLimits"]
    if "dailyLimits" not in body:
        unknown.append(Problem("dailyLimits", "is required"))
    limits, problems = parse_daily_limits(body.get("dailyLimits", {}))
    found = unknown + [Problem(p.field, p.message) for p in problems]
    if found:
        raise ApiError(422, found, "INVALID_FIELD")
    async with ctx.engine.begin() as conn:
        await store_limits.set_limits(conn, caller.workspace_id, limits)
        await record_audit(conn, caller, "settings.limits", {"dailyLimits": limits}, now=ctx.clock())
    return await read_limits(ctx, caller)


class SuppressionIn(CamelModel):
    destination: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
    #: Null (or left out) covers every channel.
    channel: MessageType | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None

    @field_validator("destination")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("must not contain line breaks")
        return value


class SuppressionOut(CamelModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    destination: str
    channel: MessageType | None
    reason: str | None
    created_at: Date
    created_by: str

    @classmethod
    def from_row(cls, row: Any) -> SuppressionOut:
        return cls(
            id=row.id,
            destination=row.destination,
            channel=None if row.channel == ALL_CHANNELS else row.channel,
            reason=row.reason,
            created_at=row.created_at,
            created_by=row.created_by,
        )


class SuppressionPageOut(CamelModel):
    total: int
    offset: int
    limit: int
    entries: list[SuppressionOut]


@router.get("/suppressions", response_model=SuppressionPageOut)
async def read_suppressions(
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> SuppressionPageOut:
    """The recipients who opted out, newest first."""
    async with ctx.engine.connect() as conn:
        rows, total = await store_suppressions.page(conn, caller.workspace_id, limit, offset)
    return SuppressionPageOut(
        total=total, offset=offset, limit=limit, entries=[SuppressionOut.from_row(r) for r in rows]
    )


def _taken(entry_id: str | None) -> ApiError:
    already = f" (entry {entry_id})" if entry_id else ""
    return ApiError(409, [Problem("destination", f"is already suppressed on this channel{already}")], "CONFLICT")


@router.post("/suppressions", status_code=201, response_model=SuppressionOut)
async def add_suppression(
    body: SuppressionIn,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> SuppressionOut:
    """Opt a recipient out: messages to it (on `channel`, or on all) fail NON_RETRYABLE, unsent."""
    now = ctx.clock()
    channel = None if body.channel is None else body.channel.value
    try:
        async with ctx.engine.begin() as conn:
            row = await store_suppressions.add(
                conn, caller.workspace_id, body.destination, channel, body.reason, caller.actor, now
            )
            details = {"id": row.id, "destination": row.destination, "channel": channel}
            await record_audit(conn, caller, "suppressions.add", details, now=now)
    except store_suppressions.AlreadySuppressed as taken:
        raise _taken(taken.existing_id) from None
    except IntegrityError:
        raise _taken(None) from None
    return SuppressionOut.from_row(row)


@router.delete("/suppressions/{ref:path}", status_code=204)
async def remove_suppression(
    ref: str,
    channel: MessageType | None = Query(None, description="with a destination: only its entry for this channel"),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> Response:
    """Opt a recipient in again, by the entry's id or by its destination (every channel unless named)."""
    async with ctx.engine.begin() as conn:
        removed = await store_suppressions.remove(
            conn, caller.workspace_id, ref, None if channel is None else channel.value
        )
        if not removed:
            raise ApiError(404, [Problem("suppression", f"no entry {ref!r} in this workspace")], "NOT_FOUND")
        details = {"ids": [r.id for r in removed], "destination": removed[0].destination}
        await record_audit(conn, caller, "suppressions.remove", details, now=ctx.clock())
    return Response(status_code=204)
