"""The workspace's retention: how many days its messages are kept (`commlog purge` removes older ones)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.schemas import CamelModel
from commlog.domain.permissions import Permission
from commlog.domain.retention import retention_problem
from commlog.store.accounts import record_audit
from commlog.store.retention import retention_days, set_retention_days

router = APIRouter(prefix="/api/settings", tags=["settings"])


class RetentionOut(CamelModel):
    #: Days final messages are kept after they were created; null keeps them forever.
    retention_days: int | None


@router.get("/retention", response_model=RetentionOut)
async def read_retention(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS))
) -> RetentionOut:
    async with ctx.engine.connect() as conn:
        return RetentionOut(retention_days=await retention_days(conn, caller.workspace_id))


@router.put("/retention", response_model=RetentionOut)
async def write_retention(
    body: dict[str, Any] = Body(examples=[{"retentionDays": 90}]),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> RetentionOut:
    """Set the retention in days (1 to 36500), or null to keep messages forever."""
    unknown = sorted(set(body) - {"retentionDays"})
    if unknown:
        raise ApiError(422, [Problem(name, "is not a known field") for name in unknown], "INVALID_FIELD")
    if "retentionDays" not in body:
        raise ApiError(422, [Problem("retentionDays", "is required (null keeps messages forever)")], "INVALID_FIELD")
    days = body["retentionDays"]
    problem = retention_problem(days)
    if problem:
        raise ApiError(422, [Problem("retentionDays", problem)], "INVALID_FIELD")
    async with ctx.engine.begin() as conn:
        await set_retention_days(conn, caller.workspace_id, days)
        await record_audit(conn, caller, "settings.retention", {"retentionDays": days}, now=ctx.clock())
    return RetentionOut(retention_days=days)
