"""Resend in Mambu's dialects, so existing Mambu clients work unchanged.

- API v1 (seed 001): `POST /api/notifications/messages` with `{"action": "resend", "identifiers": [...]}`,
  answering `{"returnCode": 200, "returnStatus": "SUCCESS"}`.
- API v2 (seed 000): `POST /api/communications/messages:resend` (202 Accepted; the new states are
  then seen by search or GET), `:resendAsyncByKeys` and `:resendAsyncByDate` (200).

Seed 000 suggests posting the response of a search to `:resend`: the v2 key routes take
`{"messages": [...]}` or a bare array, whose items are encoded keys or message objects with an
`encodedKey`. Errors are Mambu's; an `Idempotency-Key` header makes a repeat a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_

from commlog.api.context import AppContext, Caller, app_context, requires
from commlog.api.errors import ApiError, Problem
from commlog.api.mambu_errors import MambuV1Route, MambuV2Route
from commlog.api.resending import resend_named, resend_where
from commlog.api.routes.messages import IdempotencyHeader
from commlog.domain.clock import as_utc
from commlog.domain.permissions import Permission
from commlog.domain.states import MessageType
from commlog.store.resend import BulkResend, Resent
from commlog.store.tables import messages

v1 = APIRouter(prefix="/api/notifications", tags=["mambu v1"], route_class=MambuV1Route)
v2 = APIRouter(prefix="/api/communications", tags=["mambu v2"], route_class=MambuV2Route)

#: Seed 001's answer to an accepted resend.
V1_SUCCESS = {"returnCode": 200, "returnStatus": "SUCCESS"}

#: Mambu's template types; commlog sends no TASK messages, so TASK matches nothing (and is no error).
TEMPLATE_TYPES = frozenset({*MessageType, "TASK"})


class NotificationAction(BaseModel):
    """Seed 001's body: the action and the encoded keys it applies to."""

    model_config = ConfigDict(extra="forbid")
    action: str
    identifiers: list[str]


@v1.post("/messages", responses={200: {"description": "every named message was resent"}})
async def v1_resend(
    request: Request,
    body: NotificationAction,
    idempotency_key: IdempotencyHeader = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.RESEND)),
) -> Response:
    """Resend failed notification messages by encoded key (seed 001); duplicated keys are refused."""
    if body.action.lower() != "resend":
        raise ApiError(422, [Problem("action", f"{body.action!r} is not a known action; the action is 'resend'")])

    def answer(_resent: list[Resent]) -> tuple[int, Any]:
        return 200, V1_SUCCESS

    return await resend_named(request, ctx, caller, body.identifiers, "identifiers", idempotency_key, answer)


def _keys_of(body: Any) -> list[str]:
    """The encoded keys of a v2 body: `{"messages": [...]}` or a bare array, of keys or messages."""
    items = body.get("messages") if isinstance(body, dict) and set(body) == {"messages"} else body
    if not isinstance(items, list):
        raise ApiError(422, [Problem("messages", "is required: a list of encoded keys or of messages")])
    keys = []
    for index, item in enumerate(items):
        key = item.get("encodedKey") if isinstance(item, dict) else item
        if not isinstance(key, str):
            raise ApiError(422, [Problem(f"messages[{index}]", "must be an encoded key or a message with encodedKey")])
        keys.append(key)
    return keys


def _v2_by_keys_route(action: str, status: int, description: str) -> None:
    """`POST /api/communications/messages:<action>`: resend FAILED messages named by encoded key."""

    async def route(
        request: Request,
        body: Any = Body(...),
        idempotency_key: IdempotencyHeader = None,
        ctx: AppContext = Depends(app_context),
        caller: Caller = Depends(requires(Permission.RESEND)),
    ) -> Response:
        def answer(_resent: list[Resent]) -> tuple[int, Any]:
            return status, None

        return await resend_named(request, ctx, caller, _keys_of(body), "messages", idempotency_key, answer)

    v2.add_api_route(
        f"/messages:{action}",
        route,
        methods=["POST"],
        status_code=status,
        name=f"v2_{action}",
        description=description,
    )


_v2_by_keys_route("resend", 202, "Resend FAILED messages by key: accepted; see the new messages with search or GET.")
_v2_by_keys_route("resendAsyncByKeys", 200, "Resend FAILED messages by key; they are delivered asynchronously.")


class EnqueueByDate(BaseModel):
    """Mambu's CommunicationMessageEnqueueAction: messages created in [startDate, endDate]."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start_date: datetime = Field(alias="startDate")
    end_date: datetime = Field(alias="endDate")
    template_types: list[str] | None = Field(None, alias="templateTypes")


@v2.post("/messages:resendAsyncByDate", status_code=200, response_class=Response)  # Mambu answers an empty 200
async def v2_resend_by_date(
    request: Request,
    body: EnqueueByDate,
    idempotency_key: IdempotencyHeader = None,
    ctx: AppContext = Depends(app_context),
    caller: Caller = Depends(requires(Permission.RESEND)),
) -> Response:
    """Resend every FAILED message of the given types created in the range, not yet resent."""
    start, end = as_utc(body.start_date), as_utc(body.end_date)
    problems = [
        Problem(f"templateTypes[{index}]", f"{name!r} is not one of {', '.join(sorted(TEMPLATE_TYPES))}")
        for index, name in enumerate(body.template_types or [])
        if name not in TEMPLATE_TYPES
    ]
    if start > end:
        problems.append(Problem("endDate", "must not be before startDate"))
    if problems:
        raise ApiError(422, problems)
    condition = and_(messages.c.creation_date >= start, messages.c.creation_date <= end)
    if body.template_types is not None:
        condition = and_(condition, messages.c.type.in_(body.template_types))

    def answer(_bulk: BulkResend) -> tuple[int, Any]:
        return 200, None

    return await resend_where(request, ctx, caller, condition, body.model_dump(mode="json"), idempotency_key, answer)
