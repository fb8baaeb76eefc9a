"""The statistics page (seed 003): retry success rates, failures by reason and category, and sent,
failed and retried attempts per day over a chosen range, from `store.stats` as the API serves it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from commlog.api.context import AppContext, Caller, app_context
from commlog.api.routes.resend import MAX_STATS_DAYS
from commlog.domain.failures import FailureCategory
from commlog.domain.permissions import Permission
from commlog.store.stats import AUTOMATIC_TRIGGERS, MANUAL_TRIGGERS, retry_statistics
from commlog.web.access import PageRefused, page_requires
from commlog.web.charts import Bar, bars, daily
from commlog.web.forms import Form, one, query
from commlog.web.render import page

router = APIRouter(tags=["dashboard"], include_in_schema=False)

DEFAULT_DAYS = 14
CATEGORY_CSS = {
    FailureCategory.RETRYABLE.value: "green",
    FailureCategory.NON_RETRYABLE.value: "red",
    FailureCategory.BUSINESS_LOGIC.value: "yellow",
}


def _day(form: Form, name: str, default: date) -> date:
    raw = one(form, name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise PageRefused(400, f"{raw!r} is not a date like 2026-03-02", name) from None


def stats_range(form: Form, today: date) -> tuple[date, date]:
    """The first and last UTC day shown (both included); defaults to the last two weeks."""
    last = _day(form, "to", today)
    first = _day(form, "from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise PageRefused(400, "must not be after 'to'", "from")
    if (last - first).days + 1 > MAX_STATS_DAYS:
        raise PageRefused(400, f"the range may span at most {MAX_STATS_DAYS} days", "to")
    return first, last


@router.get("/stats")
async def stats_page(
    request: Request,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(page_requires(Permission.VIEW_COMMUNICATIONS)),
) -> Response:
    first, last = stats_range(query(request), ctx.clock().astimezone(UTC).date())
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC)
    async with ctx.engine.connect() as conn:
        stats = await retry_statistics(conn, caller.workspace_id, start, end)
    reasons = sorted(stats.by_failure_reason.items(), key=lambda item: (-item[1], item[0]))
    categories = [(c.value, stats.by_failure_category.get(c.value, 0)) for c in FailureCategory]
    return page(
        request,
        caller,
        "stats.html",
        first=first,
        last=last,
        stats=stats,
        automatic=stats.attempts_of(AUTOMATIC_TRIGGERS),
        manual=stats.attempts_of(MANUAL_TRIGGERS),
        reasons=reasons,
        categories=categories,
        reason_chart=bars([Bar(r, n, "failed") for r, n in reasons], "Failed messages by reason"),
        category_chart=bars(
            [Bar(c.replace("_", " ").title(), n, CATEGORY_CSS[c]) for c, n in categories],
            "Failed messages by category",
        ),
        daily_chart=daily(stats.daily, "Attempts per day: sent, failed, retried"),
    )
