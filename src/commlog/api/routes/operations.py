"""Operations: readiness (the database answers and its schema is current) and Prometheus metrics.

Both are open to anyone on purpose, like `/healthz`: a load balancer and a scraper carry no user
credentials. `/metrics` shows counts over all workspaces and no content; set COMMLOG_METRICS_TOKEN
to make it ask for `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.exc import DBAPIError

from commlog.api.context import AppContext, app_context, public
from commlog.api.errors import ApiError, Problem
from commlog.metrics import LogGauges, exposition
from commlog.store.database import current_revisions, head_revisions

router = APIRouter(tags=["operations"], dependencies=[Depends(public)])

#: Seconds the readiness check waits for the database before it calls it unreachable.
READY_TIMEOUT = 5.0


def _not_ready(message: str) -> ApiError:
    return ApiError(503, [Problem("database", message)], "NOT_READY", {"Retry-After": "5"})


@router.get("/readyz", responses={503: {"description": "not ready: the reason names the problem"}})
async def readyz(ctx: AppContext = Depends(app_context)) -> dict[str, str]:
    """Readiness: the database answers and is migrated to every revision this commlog knows."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            async with ctx.engine.connect() as conn:
                current = await current_revisions(conn)
    except (DBAPIError, OSError, TimeoutError) as error:
        raise _not_ready(f"cannot be reached ({type(error).__name__})") from None
    expected = head_revisions()
    if current != expected:
        missing = ", ".join(sorted(expected - current)) or "none"
        unknown = ", ".join(sorted(current - expected)) or "none"
        raise _not_ready(
            f"the schema is not current (missing revisions: {missing}; unknown revisions: {unknown}); "
            "run `commlog migrate`"
        )
    return {"status": "ok"}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, ctx: AppContext = Depends(app_context)) -> Response:
    """Prometheus metrics: messages by state and type, attempts, delivery latency, queue depth."""
    token = ctx.settings.metrics_token
    if token is not None and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        raise ApiError(
            401,
            [Problem("credentials", "send COMMLOG_METRICS_TOKEN as 'Authorization: Bearer <token>'")],
            "UNAUTHORIZED",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    gauges: LogGauges | None = getattr(request.app.state, "log_gauges", None)
    if gauges is None:
        gauges = request.app.state.log_gauges = LogGauges()
    try:
        await gauges.refresh(ctx.engine, ctx.clock())
    except (DBAPIError, OSError) as error:
        raise _not_ready(f"cannot be reached ({type(error).__name__})") from None
    body, content_type = exposition()
    return Response(body, media_type=content_type)
