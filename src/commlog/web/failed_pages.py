"""The Failed Messages page (seed 003): summary cards, the filter bar, the list, and retrying one
message or many (after a confirmation that says how many)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from commlog.api.context import AppContext, Caller, app_context
from commlog.domain.failures import CATALOGUE, FailureCategory
from commlog.domain.keys import is_key
from commlog.domain.permissions import Permission
from commlog.domain.retry import RetryPolicy
from commlog.domain.retry_status import RetryStatus, retry_status
from commlog.store.failed import AGES, FailedFilter, failed_messages, failed_summary
from commlog.store.resend import SendAgainRefused, resend_keys
from commlog.store.workspaces import get_workspace
from commlog.web.access import PageRefused, page_requires
from commlog.web.forms import Form, one, query, read_form
from commlog.web.render import page

router = APIRouter(tags=["dashboard"], include_in_schema=False)

PAGE_SIZE = 50
#: The most messages one bulk retry names (a page's worth and then some).
MAX_BULK_KEYS = 500


def _choice(form: Form, name: str, allowed: dict[str, Any]) -> Any:
    raw = one(form, name)
    if not raw:
        return None
    if raw not in allowed:
        raise PageRefused(400, f"{raw!r} is not one of {', '.join(allowed)}", name)
    return allowed[raw]


def _after(raw: str) -> tuple[datetime, str] | None:
    if not raw:
        return None
    moment, _, key = raw.partition("~")
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        parsed = None
    if parsed is None or not is_key(key):
        raise PageRefused(400, "is not a position this page gave out; start from the first page", "after")
    return parsed, key


def failed_filter(form: Form, now: datetime) -> FailedFilter:
    age = _choice(form, "age", AGES)
    newer = older = None
    if age is not None:
        _, newer_than, older_than = age
        newer = now - newer_than if newer_than else None
        older = now - older_than if older_than else None
    return FailedFilter(
        newer_than=newer,
        older_than=older,
        reason=_choice(form, "reason", {reason: reason for reason in CATALOGUE}),
        category=_choice(form, "category", {c.value: c for c in FailureCategory}),
        retry_status=_choice(form, "status", {s.value: s for s in RetryStatus}),
    )


async def _policy(ctx: AppContext, caller: Caller) -> RetryPolicy:
    async with ctx.engine.connect() as conn:
        workspace = await get_workspace(conn, caller.workspace_id)
    return workspace.retry_policy if workspace is not None else RetryPolicy()


@router.get("/failed")
async def failed_page(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    form = query(request)
    chosen = failed_filter(form, ctx.clock())
    after = _after(one(form, "after"))
    policy = await _policy(ctx, caller)
    async with ctx.engine.connect() as conn:
        summary = await failed_summary(conn, caller.workspace_id)
        found = await failed_messages(conn, caller.workspace_id, chosen, policy, PAGE_SIZE, after)
    rows = [
        (row, retry_status(policy, row.failure_category, row.num_sweeps, row.resent_at is not None, row.failure_reason))
        for row in found.rows
    ]
    kept = {name: one(form, name) for name in ("age", "reason", "category", "status")}
    next_query = None
    if found.after is not None:
        moment, key = found.after
        next_query = {**kept, "after": f"{moment.isoformat()}~{key}"}
    return page(
        request,
        caller,
        "failed.html",
        summary=summary,
        rows=rows,
        total=found.total,
        kept=kept,
        next_query=next_query,
        ages=AGES,
        reasons=sorted(CATALOGUE),
        categories=list(FailureCategory),
        statuses=list(RetryStatus),
        policy=policy,
    )


def _keys(form: Form) -> list[str]:
    """The chosen messages: a row's own Retry button (`only`) wins over the ticked boxes (`key`)."""
    chosen = form.get("only") or form.get("key", [])
    keys = list(dict.fromkeys(k.strip() for k in chosen if k.strip()))
    if not keys:
        raise PageRefused(400, "choose at least one message to retry", "key")
    if len(keys) > MAX_BULK_KEYS:
        raise PageRefused(400, f"names {len(keys)} messages; retry at most {MAX_BULK_KEYS} at once", "key")
    bad = [k for k in keys if not is_key(k)]
    if bad:
        raise PageRefused(400, f"{bad[0]!r} is not a message key", "key")
    return keys


@router.post("/failed/retry")
async def retry(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.RESEND)),
) -> Response:
    """Retry the chosen messages: one at once; several only after the person confirmed the count."""
    form = await read_form(request)
    keys = _keys(form)
    if len(keys) > 1 and Permission.RESEND_BULK not in caller.permissions:
        raise PageRefused(403, f"Your role may retry one message at a time, not {len(keys)}.", "key")
    if len(keys) > 1 and one(form, "confirmed") != "yes":
        return page(request, caller, "retry_confirm.html", keys=keys, back=one(form, "back", "/failed"))
    try:
        async with ctx.engine.begin() as conn:
            resent = await resend_keys(conn, caller.workspace_id, keys, caller.actor, ctx.clock())
    except SendAgainRefused as refused:
        return page(request, caller, "retry_refused.html", status=409, refused=refused.refused)
    if len(resent) == 1:
        return RedirectResponse(f"/messages/{resent[0].original_key}?resent={resent[0].new_key}", status_code=303)
    return page(request, caller, "retry_done.html", resent=resent)
