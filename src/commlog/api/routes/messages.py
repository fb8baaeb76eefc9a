"""Native routes: submit one or many notifications, read one with its attempts."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem, not_found
from commlog.api.responses import model_response
from commlog.api.schemas import AcceptedOut, BatchAcceptedOut, BatchIn, BatchOut, MessageIn, MessageOut
from commlog.domain.destinations import destination_problem
from commlog.domain.permissions import Permission
from commlog.store.messages import get_attempts, get_message, insert_messages, new_message_row

router = APIRouter(prefix="/api", tags=["messages"])

IdempotencyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$"),
]


def _problems(item: MessageIn, prefix: str, max_body_bytes: int) -> list[Problem]:
    problems = []
    size = len(item.body.encode())
    if size > max_body_bytes:
        problems.append(Problem(f"{prefix}body", f"is {size} bytes; the limit is {max_body_bytes}"))
    problem = destination_problem(item.type, item.destination)
    if problem:
        problems.append(Problem(f"{prefix}destination", problem))
    return problems


async def _store(
    ctx: AppContext, workspace_id: str, items: list[MessageIn], keys: list[str | None], prefix: str
) -> list[tuple[Any, bool]]:
    problems = [
        problem
        for index, item in enumerate(items)
        for problem in _problems(item, prefix.format(index), ctx.settings.max_body_bytes)
    ]
    if problems:
        raise ApiError(422, problems, "INVALID_FIELD")
    now = ctx.clock()
    rows = []
    for item, key in zip(items, keys, strict=True):
        fields = item.model_dump(exclude={"idempotency_key"})
        fields["type"] = item.type.value
        fields["idempotency_key"] = key
        rows.append(new_message_row(workspace_id, fields, now))
    async with ctx.engine.begin() as conn:
        return await insert_messages(conn, rows)


@router.post(
    "/messages",
    status_code=202,
    response_model=MessageOut,
    responses={200: {"description": "an earlier submit with the same idempotency key"}},
)
async def submit_message(
    item: MessageIn,
    idempotency_key: IdempotencyHeader = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.SEND)),
) -> Response:
    """Log one notification and queue it for delivery."""
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
    stored = await _store(ctx, caller.workspace_id, batch.messages, keys, "messages[{}].")
    if prefer and "return=minimal" in prefer.replace(" ", "").lower():
        accepted = [
            AcceptedOut(
                encoded_key=row.encoded_key,
                state=row.state,
                idempotency_key=row.idempotency_key,
                replayed=not created,
            )
            for row, created in stored
        ]
        return model_response(BatchAcceptedOut(messages=accepted), 202, {"Preference-Applied": "return=minimal"})
    return model_response(BatchOut(messages=[MessageOut.from_row(row) for row, _ in stored]), 202)


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
