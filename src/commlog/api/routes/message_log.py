"""Seed 002's message log (`GET /api/notifications/messages`) and per-recipient logs (seed 000's
"Communications tab"): both are the one filter language behind query options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.resending import send_one_again
from commlog.api.routes.messages import IdempotencyHeader
from commlog.api.schemas import MessageOut
from commlog.api.search import checked_filter, numbered_page, run_search
from commlog.api.search_schemas import LogEntry, LogResult, Paged, RecipientLog
from commlog.domain.fanout import NOTIFICATION_LOG_TYPE
from commlog.domain.filters import Field, Filter, Operator, RawCondition, Sort, parse_value
from commlog.domain.message_log import LOG_TYPES, LogStatus, status_states
from commlog.domain.permissions import Permission
from commlog.domain.states import MessageType
from commlog.store.resend import reprocess

router = APIRouter(prefix="/api", tags=["message log"])

Option = Annotated[str | None, Query()]
VIEWER = Depends(requires(Permission.VIEW_COMMUNICATIONS))
Cursor = Annotated[str | None, Query(description="resume after the page that gave this nextCursor")]
E = TypeVar("E")
P = TypeVar("P", bound=Paged[Any])

#: Seed 002's plain text options and the fields they match exactly.
TEXT_OPTIONS = {
    "product_tag": Field.PRODUCT_TAG,
    "product_id": Field.PRODUCT_ID,
    "env": Field.ENV,
    "notification_tag": Field.NOTIFICATION_TAG,
    "process_id": Field.PROCESS_ID,
}


def _choice(name: str, raw: str, choices: dict[str, E]) -> E:
    if raw.lower() not in choices:
        raise ApiError(400, [Problem(name, f"{raw!r} is not one of {', '.join(choices)}")], "INVALID_FIELD")
    return choices[raw.lower()]


def _moment(name: str, raw: str) -> datetime | date:
    try:
        value = parse_value(Field.CREATION_DATE.spec, Operator.ON, raw)
    except ValueError as error:
        raise ApiError(400, [Problem(name, str(error))], "INVALID_FIELD") from None
    assert isinstance(value, datetime | date)
    return value


def _time_window(start_date: str | None, end_date: str | None) -> list[RawCondition]:
    """start_date <= creation <= end_date; a bare date covers its whole day."""
    start = None if start_date is None else _moment("start_date", start_date).isoformat()
    end = None if end_date is None else _moment("end_date", end_date).isoformat()
    if start is not None and end is not None:
        return [RawCondition(Field.CREATION_DATE, Operator.BETWEEN, start, end)]
    if end is not None:
        return [RawCondition(Field.CREATION_DATE, Operator.BEFORE_INCLUSIVE, end)]
    if start is None:
        return []
    # AFTER is strict: step back the store's precision (a microsecond) or a day to include the start.
    first = _moment("start_date", start)
    just_before = first - (timedelta(microseconds=1) if isinstance(first, datetime) else timedelta(days=1))
    return [RawCondition(Field.CREATION_DATE, Operator.AFTER, just_before.isoformat())]


def _log_conditions(options: dict[str, str | None], status: str | None, kind: str | None) -> list[RawCondition]:
    raws = [RawCondition(f, Operator.EQUALS_CASE_SENSITIVE, options[o]) for o, f in TEXT_OPTIONS.items() if options[o]]
    if status is not None:
        states, resend = status_states(_choice("status", status, {s.value: s for s in LogStatus}))
        raws.append(RawCondition(Field.STATE, Operator.IN, values=sorted(states)))
        if resend is not None:
            raws.append(RawCondition(Field.PARENT_KEY, Operator.NOT_EMPTY if resend else Operator.EMPTY))
    if kind is not None and kind.lower() == NOTIFICATION_LOG_TYPE:
        raws.append(RawCondition(Field.NOTIFICATION_KEY, Operator.NOT_EMPTY))
    elif kind is not None:
        kinds: dict[str, MessageType | None] = {**LOG_TYPES, NOTIFICATION_LOG_TYPE: None}
        chosen = _choice("type", kind, kinds)
        assert chosen is not None
        raws.append(RawCondition(Field.TYPE, Operator.EQUALS, chosen.value))
    return raws


async def _paged(
    model: type[P],
    item: Callable[[Any], Any],
    ctx: AppContext,
    caller: Caller,
    filter_: Filter,
    paging: tuple[str | None, str | None, str | None],
    default_limit: int,
) -> P:
    """A numbered page (or the page after a cursor) of a log, with the total."""
    number, page = numbered_page(*paging, default_limit=default_limit)
    result = await run_search(ctx, caller, filter_, page, with_total=True)
    items = [item(row) for row in result.rows]
    return model.of(items, number, page.limit, result.total or 0, result.has_more, result.next_cursor)


@router.get("/notifications/messages", response_model=LogResult, response_model_by_alias=True)
async def get_messages(
    product_tag: Option = None,
    product_id: Option = None,
    env: Option = None,
    notification_tag: Option = None,
    status: Option = None,
    type: Option = None,
    process_id: Option = None,
    start_date: Option = None,
    end_date: Option = None,
    page: Option = None,
    limit: Option = None,
    cursor: Cursor = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = VIEWER,
) -> LogResult:
    """Seed 002's getMessages: the workspace's log, newest first, filtered by any of the options."""
    options = {"product_tag": product_tag, "product_id": product_id, "env": env}
    options |= {"notification_tag": notification_tag, "process_id": process_id}
    raws = _log_conditions(options, status, type) + _time_window(start_date, end_date)
    filter_ = checked_filter(raws, Sort(), "query", {})
    return await _paged(LogResult, LogEntry.from_row, ctx, caller, filter_, (page, limit, cursor), 20)


class StatusUpdate(BaseModel):
    """Seed 002's log status update; only `reprocessing` is the caller's to set."""

    model_config = ConfigDict(extra="forbid")
    status: LogStatus


@router.patch("/notifications/messages/{encoded_key}", status_code=202, response_model=LogEntry)
async def update_status(
    encoded_key: str,
    body: StatusUpdate,
    request: Request,
    idempotency_key: IdempotencyHeader = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.RESEND)),
) -> Response:
    """Mark a message `reprocessing`: it is sent again from its stored input, product, env and
    notification tag as a new entry linked to it, whose status is `reprocessing` until it is final.
    pending, sent and failed are set by delivery, not by hand."""
    if body.status is not LogStatus.REPROCESSING:
        problem = f"{body.status.value!r} is set by delivery; only 'reprocessing' can be set"
        raise ApiError(422, [Problem("status", problem)], "INVALID_FIELD")
    return await send_one_again(request, ctx, caller, encoded_key, idempotency_key, reprocess, _log_entry)


def _log_entry(row: Any) -> object:
    return LogEntry.from_row(row).model_dump(mode="json", by_alias=True)


RECIPIENTS = {
    "clients": Field.RECIPIENT_CLIENT_KEY,
    "groups": Field.RECIPIENT_GROUP_KEY,
    "users": Field.RECIPIENT_USER_KEY,
}


def _recipient_log(field: Field) -> Callable[..., Awaitable[RecipientLog]]:
    async def recipient_log(
        key: str,
        page: Option = None,
        limit: Option = None,
        cursor: Cursor = None,
        ctx: AppContext = Depends(app_context),
        caller: Caller = VIEWER,
    ) -> RecipientLog:
        filter_ = checked_filter([RawCondition(field, Operator.EQUALS, key)], Sort(), "path", {})
        return await _paged(RecipientLog, MessageOut.from_row, ctx, caller, filter_, (page, limit, cursor), 50)

    return recipient_log


for _name, _field in RECIPIENTS.items():
    router.add_api_route(
        f"/{_name}/{{key}}/messages",
        _recipient_log(_field),
        response_model=RecipientLog,
        summary=f"Every message to one of the {_name}, newest first (seed 000's Communications tab)",
    )
