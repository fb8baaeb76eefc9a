"""Workspace settings: its time zone, the webhook signing secret and the retry policy."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.schemas import RetryPolicyBody, WebhookSettings, WorkspaceSettings, WorkspaceSettingsIn
from commlog.domain.permissions import Permission
from commlog.store.accounts import record_audit
from commlog.store.workspaces import (
    Workspace,
    get_workspace,
    policy_from_json,
    policy_to_json,
    set_retry_policy,
    set_signing_secret,
    set_time_zone,
)

router = APIRouter(prefix="/api/settings", tags=["settings"])


async def workspace_of(ctx: AppContext, workspace_id: str) -> Workspace:
    """The caller's workspace with its settings; 404 if it is gone."""
    async with ctx.engine.connect() as conn:
        workspace = await get_workspace(conn, workspace_id)
    if workspace is None:
        raise ApiError(404, [Problem("workspace", "no such workspace")], "NOT_FOUND")
    return workspace


def signing_secret_problem(secret: str) -> str | None:
    if not secret.startswith("whsec_"):
        return "must start with 'whsec_'"
    try:
        raw = base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        return "must be 'whsec_' followed by base64"
    if not 24 <= len(raw) <= 64:
        return f"must encode 24 to 64 bytes; it encodes {len(raw)}"
    return None


@router.get("/workspace", response_model=WorkspaceSettings)
async def read_workspace_settings(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS))
) -> WorkspaceSettings:
    workspace = await workspace_of(ctx, caller.workspace_id)
    return WorkspaceSettings(name=workspace.name, time_zone=workspace.time_zone)


@router.put("/workspace", response_model=WorkspaceSettings)
async def write_workspace_settings(
    body: WorkspaceSettingsIn,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> WorkspaceSettings:
    try:
        ZoneInfo(body.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problem = f"{body.time_zone!r} is not an IANA time zone such as 'UTC' or 'Europe/Lisbon'"
        raise ApiError(422, [Problem("timeZone", problem)], "INVALID_FIELD") from None
    async with ctx.engine.begin() as conn:
        await set_time_zone(conn, caller.workspace_id, body.time_zone)
        await record_audit(conn, caller, "settings.workspace", {"timeZone": body.time_zone}, now=ctx.clock())
    workspace = await workspace_of(ctx, caller.workspace_id)
    return WorkspaceSettings(name=workspace.name, time_zone=workspace.time_zone)


@router.get("/webhooks", response_model=WebhookSettings)
async def read_webhook_settings(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS))
) -> WebhookSettings:
    workspace = await workspace_of(ctx, caller.workspace_id)
    return WebhookSettings(signing_secret=workspace.signing_secret)


@router.put("/webhooks", response_model=WebhookSettings)
async def write_webhook_settings(
    body: WebhookSettings,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> WebhookSettings:
    problem = signing_secret_problem(body.signing_secret)
    if problem:
        raise ApiError(422, [Problem("signingSecret", problem)], "INVALID_FIELD")
    async with ctx.engine.begin() as conn:
        await set_signing_secret(conn, caller.workspace_id, body.signing_secret)
        # The secret itself stays out of the trail.
        await record_audit(conn, caller, "settings.webhooks", {"signingSecret": "changed"}, now=ctx.clock())
    return body


@router.get("/retry-policy")
async def read_retry_policy(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS))
) -> dict[str, Any]:
    return policy_to_json((await workspace_of(ctx, caller.workspace_id)).retry_policy)


@router.put("/retry-policy")
async def write_retry_policy(
    body: RetryPolicyBody,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> dict[str, Any]:
    policy = policy_from_json(body.model_dump(by_alias=True, exclude_none=True))
    problems = policy.problems()
    if problems:
        raise ApiError(422, [Problem(field, message) for field, message in problems], "INVALID_FIELD")
    async with ctx.engine.begin() as conn:
        await set_retry_policy(conn, caller.workspace_id, policy)
        await record_audit(conn, caller, "settings.retry_policy", policy_to_json(policy), now=ctx.clock())
    return policy_to_json(policy)
