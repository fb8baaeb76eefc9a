"""The event stream (Server-Sent Events) and stream subscribers' acknowledgements.

`GET /api/stream` sends the workspace's events in order, each with `id:` (its cursor), `event:`
(its kind) and `data:` (JSON). A client resumes after the last id it saw with `Last-Event-ID`
(what an EventSource sends on reconnect) or `?after=`; the header wins when both are given, since
a reconnecting EventSource keeps its first URL. Idle streams get a comment line as keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.serving import StreamHub
from commlog.domain.destinations import destination_problem
from commlog.domain.events import EventKind, parse_cursor
from commlog.domain.permissions import Permission
from commlog.domain.states import MessageState, MessageType
from commlog.store import events
from commlog.store.messages import get_message

router = APIRouter(prefix="/api/stream", tags=["stream"])

#: Events sent per database read; a stream that is behind reads again at once.
READ_BATCH = 500


def _cursor(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    value = parse_cursor(raw)
    if value is None:
        raise ApiError(400, [Problem(name, f"{raw!r} is not an event id (a non-negative integer)")], "INVALID_FIELD")
    return value


def _listed(name: str, raw: str | None, allowed: list[str]) -> list[str]:
    """A comma-separated filter, every item one of `allowed`."""
    if not raw:
        return []
    items = [item.strip() for item in raw.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise ApiError(400, [Problem(name, f"{unknown[0]!r} is not one of {', '.join(allowed)}")], "INVALID_FIELD")
    return items


def _frame(row: Any) -> str:
    data = {
        "id": row.seq,
        "kind": row.kind,
        "encodedKey": row.message_key,
        "type": row.message_type,
        "at": row.created_at.isoformat(),
        **row.payload,
    }
    return f"id: {row.seq}\nevent: {row.kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
)
async def stream(
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[str | None, Query(description="resume after this event id")] = None,
    kinds: Annotated[str | None, Query(description="comma-separated event kinds")] = None,
    type: Annotated[str | None, Query(description="comma-separated message types")] = None,
    subscriber: Annotated[str | None, Query(description="only this subscriber's notifications")] = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> StreamingResponse:
    """The workspace's events as Server-Sent Events, from the cursor on, until the client leaves."""
    header_cursor = _cursor("Last-Event-ID", last_event_id)
    query_cursor = _cursor("after", after)
    start = header_cursor if header_cursor is not None else (query_cursor or 0)
    kind_filter = _listed("kinds", kinds, [k.value for k in EventKind])
    type_filter = _listed("type", type, [t.value for t in MessageType])
    if subscriber is not None and (problem := destination_problem(MessageType.EVENT_STREAM, subscriber)):
        raise ApiError(400, [Problem("subscriber", problem)], "INVALID_FIELD")
    hub: StreamHub = request.app.state.streams

    async def frames() -> AsyncIterator[str]:
        cursor = start
        last_write = time.monotonic()
        yield f"retry: 1000\n: stream after {cursor}\n\n"
        while not hub.closing.is_set() and not await request.is_disconnected():
            async with ctx.engine.begin() as conn:
                await events.sequence(conn)
            async with ctx.engine.connect() as conn:
                rows = await events.read(
                    conn, caller.workspace_id, cursor, READ_BATCH, kind_filter, type_filter, subscriber
                )
            for row in rows:
                yield _frame(row)
                cursor = row.seq
            if rows:
                last_write = time.monotonic()
                if len(rows) == READ_BATCH:
                    continue
            elif time.monotonic() - last_write >= ctx.settings.stream_keepalive:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.closing.wait(), ctx.settings.stream_poll_interval)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


class AckIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    encoded_key: str = Field(min_length=1, max_length=32)


class AckOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    encoded_key: str
    subscriber: str
    #: The message's state when the acknowledgement was taken; the worker marks it SENT shortly after.
    state: str
    acknowledged: bool


@router.post("/{subscriber}/ack", response_model=AckOut, response_model_by_alias=True, status_code=202)
async def acknowledge(
    subscriber: str,
    ack: AckIn,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.VIEW_COMMUNICATIONS)),
) -> AckOut:
    """A subscriber confirms it received a stream notification; the message becomes SENT.

    Repeating an acknowledgement is harmless. A message that already FAILED cannot be
    acknowledged any more (409): send it again instead.
    """
    if problem := destination_problem(MessageType.EVENT_STREAM, subscriber):
        raise ApiError(400, [Problem("subscriber", problem)], "INVALID_FIELD")
    async with ctx.engine.begin() as conn:
        row = await get_message(conn, caller.workspace_id, ack.encoded_key)
        if row is None or row.type != MessageType.EVENT_STREAM or row.destination != subscriber:
            raise ApiError(
                404,
                [Problem("encodedKey", f"no stream notification {ack.encoded_key!r} for subscriber {subscriber!r}")],
                "NOT_FOUND",
            )
        if row.state == MessageState.FAILED:
            raise ApiError(409, [Problem("encodedKey", "the message has FAILED; resend it instead")], "MESSAGE_FAILED")
        await events.acknowledge(conn, caller.workspace_id, row.encoded_key, caller.actor, ctx.clock())
    return AckOut(encoded_key=row.encoded_key, subscriber=subscriber, state=row.state, acknowledged=True)
