"""Native routes: resend and reprocess, a message's retry history, and retry statistics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import and_

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem, not_found
from commlog.api.resend_schemas import HistoryOut, ResendIn, ResendOut, RetryStatisticsOut
from commlog.api.resending import (
    SendAgain,
    checked_key,
    resend_named,
    resend_one,
    resend_where,
    send_one_again,
)
from commlog.api.routes.messages import IdempotencyHeader
from commlog.api.schemas import MessageOut
from commlog.api.search import criteria_filter, workspace_zone
from commlog.domain.clock import as_utc
from commlog.domain.permissions import Permission
from commlog.store.history import message_history
from commlog.store.resend import BulkResend, Resent, reprocess
from commlog.store.search import where
from commlog.store.stats import retry_statistics

router = APIRouter(prefix="/api", tags=["resend"])

#: The longest range the statistics cover in one request.
MAX_STATS_DAYS = 366


def _send_again_route(action: str, send_again: SendAgain, description: str) -> None:
    """`POST /api/messages/{key}:<action>`: send one message again; answer the new message."""

    async def route(
        encoded_key: str,
        request: Request,
        idempotency_key: IdempotencyHeader = None,
        ctx: AppContext = Depends(app_context),
        caller: Caller = Depends(requires(Permission.RESEND)),
    ) -> Response:
        return await send_one_again(request, ctx, caller, encoded_key, idempotency_key, send_again, _message)

    router.add_api_route(
        f"/messages/{{encoded_key}}:{action}",
        route,
        methods=["POST"],
        status_code=202,
        response_model=MessageOut,
        name=f"{action}_message",
        description=description,
    )


def _message(row: Any) -> object:
    return MessageOut.from_row(row).model_dump(mode="json", by_alias=True)


_send_again_route(
    "resend", resend_one, "Resend one FAILED message: a new message with the same rendered content, linked to it."
)
_send_again_route(
    "reprocess", reprocess, "Send a SENT or FAILED message again, rendered afresh from its stored input (seed 002)."
)


@router.post("/messages:resend", status_code=202, response_model=ResendOut)
async def resend_messages(
    body: ResendIn,
    request: Request,
    idempotency_key: IdempotencyHeader = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.RESEND)),
) -> Response:
    """Resend the named FAILED messages (all or none), or every resendable one a filter matches
    (oldest first, at most `limit`; a dry run only counts them)."""
    if body.filter is not None:
        filter_ = criteria_filter(body.filter, "filter")
        async with ctx.engine.connect() as conn:
            zone = await workspace_zone(conn, caller.workspace_id)
        condition = and_(*where(caller.workspace_id, filter_, ctx.clock(), zone))

        def answer_bulk(bulk: BulkResend) -> tuple[int, object]:
            return (200 if bulk.dry_run else 202), ResendOut.of_bulk(bulk).model_dump(mode="json", by_alias=True)

        request_body = body.model_dump(mode="json", by_alias=True)
        return await resend_where(
            request, ctx, caller, condition, request_body, idempotency_key, answer_bulk, body.limit, body.dry_run
        )

    def answer(resent: list[Resent]) -> tuple[int, object]:
        return 202, ResendOut.of_keys(resent).model_dump(mode="json", by_alias=True)

    assert body.encoded_keys is not None  # the body's validator lets exactly one of the two through
    return await resend_named(request, ctx, caller, body.encoded_keys, "encodedKeys", idempotency_key, answer)


@router.get("/messages/{encoded_key}/history", response_model=HistoryOut)
async def read_history(
    encoded_key: str,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> HistoryOut:
    """The retry history of the message's chain: every attempt and every resend, oldest first."""
    key = checked_key(encoded_key)
    async with ctx.engine.connect() as conn:
        history = await message_history(conn, caller.workspace_id, key)
    if history is None:
        raise not_found("encodedKey", key)
    return HistoryOut.of(history)


@router.get("/stats/retries", response_model=RetryStatisticsOut)
async def read_retry_statistics(
    start: Annotated[
        datetime | None, Query(alias="from", description="start of the range (default: 30 days ago)")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="end of the range, exclusive (default: now)")] = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> RetryStatisticsOut:
    """Counts by state, type, failure reason and category; retry success rates; a daily series."""
    end = as_utc(end) if end else ctx.clock()
    start = as_utc(start) if start else end - timedelta(days=30)
    if start >= end:
        raise ApiError(422, [Problem("from", "must be before 'to'")])
    if end - start > timedelta(days=MAX_STATS_DAYS):
        raise ApiError(422, [Problem("to", f"the range may span at most {MAX_STATS_DAYS} days")])
    async with ctx.engine.connect() as conn:
        return RetryStatisticsOut.of(await retry_statistics(conn, caller.workspace_id, start, end))
