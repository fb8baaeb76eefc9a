"""Provider settings per workspace (SMTP server, SMS and push credentials).

Secrets are never returned: a GET shows them as a mask, and a PUT that sends the mask back keeps
the stored secret, so a client can read, edit and write settings without ever holding a secret.
Nothing here logs a request body.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import ValidationError

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem, problems_from_validation
from commlog.api.routes.settings import workspace_of
from commlog.channels.provider_settings import (
    CONFIGURABLE,
    MASK,
    keep_masked_secrets,
    masks_left,
    parse_settings,
    to_api,
    to_storage,
)
from commlog.domain.permissions import Permission
from commlog.domain.states import MessageType
from commlog.store.accounts import record_audit
from commlog.store.workspaces import set_channel_settings

router = APIRouter(prefix="/api/settings/channels", tags=["settings"])


def _configurable(channel: MessageType) -> MessageType:
    if channel not in CONFIGURABLE:
        names = ", ".join(CONFIGURABLE)
        raise ApiError(422, [Problem("channel", f"{channel} takes no provider settings; one of {names} does")])
    return channel


def _shown(channel: MessageType, stored: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if not stored else to_api(parse_settings(channel, stored))


def _problems(error: ValidationError) -> list[Problem]:
    problems = []
    errors = [
        {**e, "loc": ("provider",)} if e["type"] in ("union_tag_invalid", "union_tag_not_found") else e
        for e in error.errors()
    ]
    for problem in problems_from_validation(errors):
        field = problem.field
        for tag in ("TWILIO.", "HTTP_GATEWAY."):  # the provider tag pydantic puts in front of a field
            field = field.removeprefix(tag)
        field = "settings" if field in ("body", "TWILIO", "HTTP_GATEWAY") else field
        problems.append(Problem(field, problem.message.removeprefix("Value error, ")))
    return problems


@router.get("")
async def read_all_channel_settings(
    ctx: AppContext = Depends(app_context), caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS))
) -> dict[str, Any]:
    """Every channel's provider settings, secrets masked; null for a channel that is not configured."""
    workspace = await workspace_of(ctx, caller.workspace_id)
    return {channel: _shown(channel, workspace.channel_settings.get(channel)) for channel in CONFIGURABLE}


@router.get("/{channel}")
async def read_channel_settings(
    channel: MessageType,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> dict[str, Any]:
    workspace = await workspace_of(ctx, caller.workspace_id)
    shown = _shown(_configurable(channel), workspace.channel_settings.get(channel))
    if shown is None:
        raise ApiError(404, [Problem("channel", f"{channel} is not configured in this workspace")], "NOT_FOUND")
    return shown


@router.put("/{channel}")
async def write_channel_settings(
    channel: MessageType,
    body: dict[str, Any] = Body(
        description=f"the channel's settings; a secret sent as {MASK!r} keeps the stored one",
        examples=[{"host": "smtp.example.com", "port": 587, "security": "STARTTLS", "sender": "no-reply@example.com"}],
    ),
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> dict[str, Any]:
    """Replace a channel's provider settings; answers with them as a GET shows them."""
    _configurable(channel)
    workspace = await workspace_of(ctx, caller.workspace_id)
    merged = keep_masked_secrets(body, workspace.channel_settings.get(channel))
    unset = masks_left(merged)
    if unset:
        message = "is the mask of a secret that is not set; send the secret itself"
        raise ApiError(422, [Problem(field, message) for field in unset], "INVALID_FIELD")
    try:
        settings = parse_settings(channel, merged)
    except ValidationError as exc:
        raise ApiError(422, _problems(exc), "INVALID_FIELD") from None
    async with ctx.engine.begin() as conn:
        await set_channel_settings(conn, caller.workspace_id, channel, to_storage(settings))
        # The trail shows what changed as the API shows it: secrets masked.
        await record_audit(conn, caller, f"settings.channels.{channel}", to_api(settings), now=ctx.clock())
    return to_api(settings)


@router.delete("/{channel}", status_code=204)
async def delete_channel_settings(
    channel: MessageType,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.MANAGE_SETTINGS)),
) -> Response:
    """Forget a channel's provider settings: its messages then fail as not enabled."""
    async with ctx.engine.begin() as conn:
        await set_channel_settings(conn, caller.workspace_id, _configurable(channel), None)
        await record_audit(conn, caller, f"settings.channels.{channel}", {"deleted": True}, now=ctx.clock())
    return Response(status_code=204)
