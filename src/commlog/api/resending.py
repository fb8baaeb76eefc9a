"""What every resend route shares, whatever its dialect: running a request once per
`Idempotency-Key`, and turning refused messages into one API error that names each key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.api.context import AppContext, Caller
from commlog.api.errors import ApiError, Problem
from commlog.domain.resend import Refusal
from commlog.store.idempotency import StoredAnswer, find_answer, keep_answer
from commlog.store.resend import SendAgainRefused

#: One request's work inside its transaction: the status and JSON body to answer.
Work = Callable[[AsyncConnection], Awaitable[tuple[int, Any]]]


def fingerprint(path: str, body: Any) -> str:
    """What makes two requests the same request, for an idempotency key reused with another body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{path}\n{canonical}".encode()).hexdigest()


async def run_once(
    ctx: AppContext, caller: Caller, idempotency_key: str | None, request_fingerprint: str, work: Work
) -> JSONResponse:
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
    return JSONResponse(body, status_code=status)


async def _replay(ctx: AppContext, caller: Caller, key: str, request_fingerprint: str) -> JSONResponse | None:
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
    return JSONResponse(stored.response, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


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
