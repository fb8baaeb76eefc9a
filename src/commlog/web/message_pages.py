"""One message's page (seed 000's "more" view): its content, subject and headers, its attempts, and
the retry history timeline of its resend chain (seed 003), with Resend when it failed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from commlog.api.context import AppContext, Caller, app_context
from commlog.domain.keys import is_key
from commlog.domain.permissions import Permission
from commlog.domain.retry import RetryPolicy
from commlog.domain.retry_status import retry_status
from commlog.domain.states import MessageState
from commlog.store.history import message_history
from commlog.store.messages import get_attempts
from commlog.store.workspaces import get_workspace
from commlog.web.access import PageRefused, page_requires
from commlog.web.forms import one, query
from commlog.web.log_pages import sender
from commlog.web.render import page

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/messages/{encoded_key}")
async def message_page(
    encoded_key: str,
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    if not is_key(encoded_key):
        raise PageRefused(404, f"{encoded_key!r} is not a message key", "message")
    async with ctx.engine.connect() as conn:
        history = await message_history(conn, caller.workspace_id, encoded_key)
        if history is None:
            raise PageRefused(404, f"there is no message {encoded_key!r} in this workspace", "message")
        attempts = await get_attempts(conn, encoded_key)
        workspace = await get_workspace(conn, caller.workspace_id)
    message = next(m for m in history.messages if m.encoded_key == encoded_key)
    policy = workspace.retry_policy if workspace is not None else RetryPolicy()
    status = None
    if message.state == MessageState.FAILED.value:
        resent = message.resent_at is not None
        status = retry_status(policy, message.failure_category, message.num_sweeps, resent, message.failure_reason)
    resent_as = next((m.encoded_key for m in history.messages if m.parent_key == encoded_key), None)
    resent_key = one(query(request), "resent")
    return page(
        request,
        caller,
        "message.html",
        message=message,
        attempts=attempts,
        history=history,
        retry_status=status,
        resent_as=resent_as,
        just_resent=resent_key if is_key(resent_key) else None,
        can_resend=message.state == MessageState.FAILED.value and message.resent_at is None,
        sender=sender,
    )
