"""Native routes: submit one or many notifications, read one with its attempts."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Header, Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem, not_found, problems_from_validation
from commlog.api.notification_schemas import NotificationIn, NotificationOut
from commlog.api.responses import model_response
from commlog.api.schemas import BatchAcceptedOut, BatchIn, BatchOut, MessageIn, MessageOut
from commlog.domain.addresses import blocked_url_problem
from commlog.domain.destinations import destination_problem
from commlog.domain.fanout import CONTENT_FIELDS, NOTIFICATION, SHARED_FIELDS, child_idempotency_key
from commlog.domain.keys import new_key
from commlog.domain.permissions import Permission
from commlog.domain.states import MessageType
from commlog.store.messages import get_attempts, get_message, insert_messages, new_message_rows

M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/api", tags=["messages"])

IdempotencyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


def _problems(
    item: MessageIn, prefix: str, max_body_bytes: int, seen: dict[tuple[MessageType, str], str | None]
) -> list[Problem]:
    """What is wrong with one item; `seen` keeps each destination's verdict for the rest of a batch
    (a bulk send often goes to a handful of endpoints)."""
    problems = []
    # A character is at most 4 bytes in UTF-8: most bodies need no encoding to be measured.
    if len(item.body) * 4 > max_body_bytes and (size := len(item.body.encode())) > max_body_bytes:
        problems.append(Problem(f"{prefix}body", f"is {size} bytes; the limit is {max_body_bytes}"))
    where = (item.type, item.destination)
    if where in seen:
        problem = seen[where]
    else:
        problem = seen[where] = destination_problem(*where)
    if problem:
        problems.append(Problem(f"{prefix}destination", problem))
    return problems


def _rows(
    ctx: AppContext,
    workspace_id: str,
    items: list[MessageIn],
    keys: list[str | None],
    prefix: str,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The rows to insert, or a refusal naming every bad field: all or nothing."""
    seen: dict[tuple[MessageType, str], str | None] = {}
    max_body_bytes = ctx.settings.max_body_bytes
    problems = [
        problem
        for index, item in enumerate(items)
        for problem in _problems(item, prefix.format(index), max_body_bytes, seen)
    ]
    if problems:
        raise ApiError(422, problems, "INVALID_FIELD")
    if ctx.settings.block_private_destinations:
        blocked = [
            Problem(f"{prefix.format(index)}destination", problem)
            for index, item in enumerate(items)
            if item.type is MessageType.WEB_HOOK and (problem := blocked_url_problem(item.destination))
        ]
        if blocked:
            raise ApiError(400, blocked, "BLACKLISTED_URL")
    # The validated fields as they are: a model_dump per item copied them again for nothing.
    submitted = [
        {**item.__dict__, **(extra or {}), "type": _TYPE_VALUES[item.type], "idempotency_key": key}
        for item, key in zip(items, keys, strict=True)
    ]
    return new_message_rows(workspace_id, submitted, ctx.clock())


_TYPE_VALUES = {member: member.value for member in MessageType}


async def _store(
    ctx: AppContext,
    workspace_id: str,
    items: list[MessageIn],
    keys: list[str | None],
    prefix: str,
    columns: tuple[str, ...] | None = None,
) -> list[tuple[Any, bool]]:
    rows = _rows(ctx, workspace_id, items, keys, prefix)
    async with ctx.engine.begin() as conn:
        return await insert_messages(conn, rows, columns)


def _parsed(model: type[M], payload: dict[str, Any], prefix: str = "") -> M:
    """Validate a body by hand (the route takes two shapes); refusals name fields as FastAPI's do."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        errors = [{**e, "loc": (*prefix_loc(prefix), *e["loc"])} for e in error.errors()]
        raise ApiError(422, problems_from_validation(errors), "INVALID_FIELD") from None


def prefix_loc(prefix: str) -> tuple[Any, ...]:
    """'channels[1].' -> ('channels', 1)."""
    loc: list[Any] = []
    for part in filter(None, prefix.replace("]", "").replace("[", ".").split(".")):
        loc.append(int(part) if part.isdigit() else part)
    return tuple(loc)


def _channel_messages(notification: NotificationIn) -> list[MessageIn]:
    """One message per channel: the channel's own content over the notification's, shared fields alike."""
    shared = {name: getattr(notification, name) for name in SHARED_FIELDS}
    items, problems = [], []
    for index, channel in enumerate(notification.channels):
        content = {name: getattr(channel, name) or getattr(notification, name) for name in CONTENT_FIELDS}
        fields = {**shared, **content, "type": channel.type, "destination": channel.destination}
        if fields["body"] is None:
            problems.append(Problem(f"channels[{index}].body", "is required, on the channel or the notification"))
            continue
        try:
            items.append(_parsed(MessageIn, {k: v for k, v in fields.items() if v is not None}, f"channels[{index}]."))
        except ApiError as error:
            problems.extend(error.problems)
    if problems:
        raise ApiError(422, problems, "INVALID_FIELD")
    return items


def _one_notification(stored: list[tuple[Any, bool]]) -> str:
    """The notification the stored messages belong to; a key reused for another request is refused."""
    keys = {row.notification_key for row, _ in stored}
    created = {was_created for _, was_created in stored}
    if len(keys) != 1 or None in keys or len(created) != 1:
        raise ApiError(
            422, [Problem("idempotencyKey", "was already used for a different request")], "IDEMPOTENCY_KEY_REUSED"
        )
    return str(keys.pop())


async def _submit_notification(
    ctx: AppContext, caller: Caller, payload: dict[str, Any], header_key: str | None
) -> Response:
    notification = _parsed(NotificationIn, payload)
    if header_key and notification.idempotency_key and header_key != notification.idempotency_key:
        raise ApiError(400, [Problem("Idempotency-Key", "differs from the idempotencyKey field")])
    key = header_key or notification.idempotency_key
    items = _channel_messages(notification)
    keys = [child_idempotency_key(key, index) for index in range(len(items))]
    rows = _rows(ctx, caller.workspace_id, items, keys, "channels[{}].", {"notification_key": new_key()})
    async with ctx.engine.begin() as conn:
        stored = await insert_messages(conn, rows)
        notification_key = _one_notification(stored)  # raising here stores nothing
    answer = NotificationOut(
        notification_key=notification_key,
        idempotency_key=key,
        creation_date=stored[0][0].creation_date,
        message_keys=[row.encoded_key for row, _ in stored],
        messages=[MessageOut.from_row(row) for row, _ in stored],
    )
    if stored[0][1]:
        return model_response(answer, 202)
    return model_response(answer, 200, {"Idempotent-Replayed": "true"})


@router.post(
    "/messages",
    status_code=202,
    response_model=MessageOut | NotificationOut,
    responses={200: {"description": "an earlier submit with the same idempotency key"}},
)
async def submit_message(
    payload: Annotated[dict[str, Any], Body(description="a MessageIn, or a NotificationIn (type NOTIFICATION)")],
    idempotency_key: IdempotencyHeader = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.SEND)),
) -> Response:
    """Log one notification and queue it for delivery.

    With `type: NOTIFICATION` and a list of `channels`, the notification fans out into one message
    per channel, each delivered on its own and carrying the notification's key; all are stored, or
    none. The answer is the notification with its messages.
    """
    if payload.get("type") == NOTIFICATION:
        return await _submit_notification(ctx, caller, payload, idempotency_key)
    item = _parsed(MessageIn, payload)
    if idempotency_key and item.idempotency_key and idempotency_key != item.idempotency_key:
        raise ApiError(400, [Problem("Idempotency-Key", "differs from the idempotencyKey field")])
    [(row, created)] = await _store(ctx, caller.workspace_id, [item], [idempotency_key or item.idempotency_key], "")
    if created:
        return model_response(MessageOut.from_row(row), 202)
    return model_response(MessageOut.from_row(row), 200, {"Idempotent-Replayed": "true"})


@router.post("/messages:batch", status_code=202, response_model=BatchOut | BatchAcceptedOut)
async def submit_batch(
    batch: BatchIn,
    idempotency_key: IdempotencyHeader = None,
    prefer: Annotated[str | None, Header(description="`return=minimal`: answer keys and states only")] = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.SEND)),
) -> Response:
    """Log up to 1,000 notifications at once: all are stored, or none.

    An `Idempotency-Key` header stands for the whole batch: item *i* gets the key `<header>:<i>`
    unless it carries its own. With `Prefer: return=minimal` (RFC 7240) the answer holds each
    message's key and state instead of the whole message, which is what a bulk sender needs.
    """
    if len(batch.messages) > ctx.settings.max_batch:
        raise ApiError(
            413,
            [
                Problem(
                    "messages",
                    f"has {len(batch.messages)} items; at most {ctx.settings.max_batch} are allowed",
                )
            ],
            "BATCH_TOO_LARGE",
        )
    keys = [
        item.idempotency_key or (f"{idempotency_key}:{index}" if idempotency_key else None)
        for index, item in enumerate(batch.messages)
    ]
    duplicated = sorted(key for key, uses in Counter(keys).items() if key is not None and uses > 1)
    if duplicated:
        raise ApiError(422, [Problem("messages", f"idempotency key {duplicated[0]!r} is used twice")])
    minimal = prefer is not None and "return=minimal" in prefer.replace(" ", "").lower()
    prefix = "messages[{}]."
    if not minimal:
        stored = await _store(ctx, caller.workspace_id, batch.messages, keys, prefix)
        return model_response(BatchOut(messages=[MessageOut.from_row(row) for row, _ in stored]), 202)
    stored = await _store(ctx, caller.workspace_id, batch.messages, keys, prefix, _ACCEPTED_COLUMNS)
    # BatchAcceptedOut's JSON written straight from the rows: a model per item, validated and then
    # dumped, cost more than storing the message.
    accepted = [
        {
            "encodedKey": row.encoded_key,
            "state": row.state,
            "idempotencyKey": row.idempotency_key,
            "replayed": not created,
        }
        for row, created in stored
    ]
    return Response(
        to_json({"messages": accepted}),
        status_code=202,
        headers={"Preference-Applied": "return=minimal"},
        media_type="application/json",
    )


#: What a `return=minimal` answer reads back of each stored message (AcceptedOut's fields).
_ACCEPTED_COLUMNS = ("encoded_key", "state", "idempotency_key")


@router.get("/messages/{encoded_key}", response_model=MessageOut)
async def read_message(
    encoded_key: str,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> MessageOut:
    """One message with every delivery attempt, oldest first."""
    async with ctx.engine.connect() as conn:
        row = await get_message(conn, caller.workspace_id, encoded_key)
        if row is None:
            raise not_found("encodedKey", encoded_key)
        return MessageOut.from_row(row, await get_attempts(conn, encoded_key))
