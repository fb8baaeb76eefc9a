"""The settings page: the workspace's retry policy (seed 000's parameters and seed 003's daily
sweep), checked by the same `RetryPolicy.problems` as the API before anything is stored."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from commlog.api.context import AppContext, Caller, app_context
from commlog.domain.permissions import Permission
from commlog.domain.retry import RetryPolicy
from commlog.store.accounts import record_audit
from commlog.store.workspaces import POLICY_FIELDS, get_workspace, policy_from_json, policy_to_json, set_retry_policy
from commlog.web.access import PageRefused, page_requires
from commlog.web.forms import Form, one, query, read_form
from commlog.web.render import page

router = APIRouter(tags=["dashboard"], include_in_schema=False)

#: Form fields (the API's names) with their label, unit and kind; the order is the form's.
POLICY_FORM: tuple[tuple[str, str, str, type], ...] = (
    ("maxRetries", "Maximum automatic retries", "-1 retries forever", int),
    ("backOffDelay", "First delay", "seconds", float),
    ("delayFactor", "Delay factor", "each delay is the previous one times this", float),
    ("backOffMaxDelay", "Longest delay", "seconds", float),
    ("sweepEnabled", "Daily sweep", "retry FAILED retryable messages again later", bool),
    ("sweepIntervalSeconds", "Sweep interval", "seconds between sweeps (86400 = a day)", float),
    ("sweepMaxAttempts", "Sweeps per message", "at most this many sweep attempts", int),
)
assert {name for name, *_ in POLICY_FORM} == set(POLICY_FIELDS)

Problems = list[tuple[str, str]]


def parse_policy(form: Form) -> tuple[dict[str, Any], Problems]:
    """The submitted policy in the API's JSON shape, and every field that is not a number of its kind."""
    values: dict[str, Any] = {}
    problems: Problems = []
    for name, _, _, kind in POLICY_FORM:
        raw = one(form, name)
        if kind is bool:
            values[name] = raw in ("on", "true", "1", "yes")
            continue
        try:
            number = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            problems.append((name, f"{raw!r} is not {what}" if raw else f"is required: enter {what}"))
            continue
        if isinstance(number, float) and not math.isfinite(number):
            problems.append((name, "must be a finite number"))
            continue
        values[name] = number
    return values, problems


def schedule(policy: RetryPolicy, shown: int = 6) -> str:
    """The automatic retry delays this policy gives, as the settings page previews them."""
    count = shown if policy.max_retries == -1 else min(policy.max_retries, shown)
    delays = [f"{policy.delay_before_retry(n):g}" for n in range(1, count + 1)]
    more = policy.max_retries == -1 or policy.max_retries > shown
    return (", ".join(delays) + (", …" if more else "") + " seconds") if delays else "no automatic retries"


async def _current(ctx: AppContext, caller: Caller) -> RetryPolicy:
    async with ctx.engine.connect() as conn:
        workspace = await get_workspace(conn, caller.workspace_id)
    if workspace is None:
        raise PageRefused(404, "this workspace no longer exists", "workspace")
    return workspace.retry_policy


def _form_page(
    request: Request, caller: Caller, values: dict[str, Any], problems: Problems, saved: bool, status: int = 200
) -> Response:
    preview = schedule(policy_from_json(values)) if not problems else ""
    return page(
        request,
        caller,
        "settings.html",
        status=status,
        fields=POLICY_FORM,
        values=values,
        problems=problems,
        saved=saved,
        preview=preview,
    )


@router.get("/settings")
async def settings_page(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.MANAGE_SETTINGS)),
) -> Response:
    policy = await _current(ctx, caller)
    return _form_page(request, caller, policy_to_json(policy), [], one(query(request), "saved") == "1")


@router.post("/settings/retry-policy")
async def save_retry_policy(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.MANAGE_SETTINGS)),
) -> Response:
    form = await read_form(request)
    values, problems = parse_policy(form)
    if not problems:
        problems = policy_from_json(values).problems()
    if problems:
        shown = {**policy_to_json(await _current(ctx, caller)), **values}
        for name, _ in problems:
            shown[name] = one(form, name)
        return _form_page(request, caller, shown, problems, False, status=422)
    policy = policy_from_json(values)
    async with ctx.engine.begin() as conn:
        await set_retry_policy(conn, caller.workspace_id, policy)
        await record_audit(conn, caller, "settings.retry_policy", policy_to_json(policy), now=ctx.clock())
    return RedirectResponse("/settings?saved=1", status_code=303)
