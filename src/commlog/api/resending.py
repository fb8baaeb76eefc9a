"""What every resend route shares, whatever its dialect: running a request once per
`Idempotency-Key`, and turning refused messages into one API error that names each key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.api.context import AppContext, Caller
from commlog.api.errors import ApiError, Problem
from commlog.domain.keys import is_key
from commlog.domain.permissions import Permission
from commlog.domain.resend import Refusal, identifier_problems
from commlog.store.idempotency import StoredAnswer, find_answer, keep_answer
from commlog.store.messages import get_message
from commlog.store.resend import (
    MAX_BULK,
    BulkResend,
    Resent,
    SendAgainRefused,
    resend_keys,
    resend_matching,
)

#: One request's work inside its transaction: the status and JSON body to answer.
Work = Callable[[AsyncConnection], Awaitable[tuple[int, Any]]]
#: Resend or reprocess one message in the caller's transaction.
SendAgain = Callable[[AsyncConnection, str, str, str, datetime], Awaitable[Resent]]


def checked_key(encoded_key: str) -> str:
    if not is_key(encoded_key):
        raise ApiError(422, [Problem("encodedKey", f"{encoded_key!r} is not an encoded key (32 lowercase hex)")])
    return encoded_key


async def resend_one(conn: AsyncConnection, workspace_id: str, key: str, actor: str, now: datetime) -> Resent:
    [resent] = await resend_keys(conn, workspace_id, [key], actor, now)
    return resent


async def send_one_again(
    request: Request,
    ctx: AppContext,
    caller: Caller,
    encoded_key: str,
    idempotency_key: str | None,
    send_again: SendAgain,
    present: Callable[[Any], object],
) -> Response:
    """Resend or reprocess one message; answer 202 with the new message as `present` shows it."""
    key = checked_key(encoded_key)

    async def work(conn: AsyncConnection) -> tuple[int, object]:
        resent = await send_again(conn, caller.workspace_id, key, caller.actor, ctx.clock())
        return 202, present(await get_message(conn, caller.workspace_id, resent.new_key))

    try:
        return await run_once(ctx, caller, idempotency_key, fingerprint(request.url.path, None), work)
    except SendAgainRefused as refused:
        raise refused_error(refused, {key: "encodedKey"}) from None


def fingerprint(path: str, body: Any) -> str:
    """What makes two requests the same request, for an idempotency key reused with another body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{path}\n{canonical}".encode()).hexdigest()


async def run_once(
    ctx: AppContext, caller: Caller, idempotency_key: str | None, request_fingerprint: str, work: Work
) -> Response:
    """Run `work` in one transaction; with an idempotency key, a repeat answers the first answer
    and changes nothing, even when the repeat races the first request."""
    if idempotency_key:
        replay = await _replay(ctx, caller, idempotency_key, request_fingerprint)
        if replay is not None:
            return replay
    try:
        async with ctx.engine.begin() as conn:
            status, body = await work(conn)
            if idempotency_key:
                answer = StoredAnswer(request_fingerprint, status, body)
                await keep_answer(conn, caller.workspace_id, idempotency_key, answer, ctx.clock())
    except (SendAgainRefused, IntegrityError):
        # The twin of a request that was running at the same time: it lost the race, and the
        # winner's answer is now the answer to both.
        replay = await _replay(ctx, caller, idempotency_key, request_fingerprint) if idempotency_key else None
        if replay is None:
            raise
        return replay
    return _answer(status, body)


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; None answers no body at all (Mambu v2's 202 Accepted)."""
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


async def resend_named(
    request: Request,
    ctx: AppContext,
    caller: Caller,
    keys: Sequence[str],
    field: str,
    idempotency_key: str | None,
    answer: Callable[[list[Resent]], tuple[int, Any]],
) -> Response:
    """Resend the named messages (all or none) and answer in the route's dialect; refusals name
    each key as `field[i]`."""
    problems = identifier_problems(keys, field)
    if problems:
        raise ApiError(422, [Problem(where, message) for where, message in problems])
    if len(keys) > 1:
        caller.require(Permission.RESEND_BULK)

    async def work(conn: AsyncConnection) -> tuple[int, Any]:
        return answer(await resend_keys(conn, caller.workspace_id, keys, caller.actor, ctx.clock()))

    try:
        return await run_once(ctx, caller, idempotency_key, fingerprint(request.url.path, list(keys)), work)
    except SendAgainRefused as refused:
        raise refused_error(refused, {key: f"{field}[{index}]" for index, key in enumerate(keys)}) from None


async def resend_where(
    request: Request,
    ctx: AppContext,
    caller: Caller,
    condition: ColumnElement[bool],
    request_body: Any,
    idempotency_key: str | None,
    answer: Callable[[BulkResend], tuple[int, Any]],
    limit: int = MAX_BULK,
    dry_run: bool = False,
) -> Response:
    """Resend every resendable message matching `condition` (by filter, by date); a dry run only
    counts them, writes nothing and so needs no idempotency."""
    caller.require(Permission.RESEND_BULK)

    async def work(conn: AsyncConnection) -> tuple[int, Any]:
        bulk = await resend_matching(conn, caller.workspace_id, condition, caller.actor, ctx.clock(), limit, dry_run)
        return answer(bulk)

    key = None if dry_run else idempotency_key
    return await run_once(ctx, caller, key, fingerprint(request.url.path, request_body), work)


async def _replay(ctx: AppContext, caller: Caller, key: str, request_fingerprint: str) -> Response | None:
    async with ctx.engine.connect() as conn:
        stored = await find_answer(conn, caller.workspace_id, key)
    if stored is None:
        return None
    if stored.fingerprint != request_fingerprint:
        raise ApiError(
            422,
            [Problem("Idempotency-Key", f"{key!r} was already used for a different request")],
            "IDEMPOTENCY_KEY_REUSED",
        )
    return _answer(stored.status_code, stored.response, {"Idempotent-Replayed": "true"})


_STATUS = {
    Refusal.NOT_FOUND: 404,
    Refusal.NOT_FAILED: 409,
    Refusal.NOT_FINAL: 409,
    Refusal.ALREADY_RESENT: 409,
    Refusal.NOT_RENDERABLE: 422,
}


def refused_error(refused: SendAgainRefused, fields: Mapping[str, str]) -> ApiError:
    """One error naming every refused key at its place in the request (`fields`: key -> field path).

    A request naming an unknown message answers 404; otherwise a state conflict answers 409.
    """
    kinds = [r.refusal for r in refused.refused]
    status = min(_STATUS[kind] for kind in kinds)
    code = next(kind for kind in kinds if _STATUS[kind] == status)
    problems = [Problem(fields.get(r.key, "encodedKey"), r.message) for r in refused.refused]
    return ApiError(status, problems, code.value)
