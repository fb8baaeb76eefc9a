"""Errors as each API dialect shows them: one exception, one formatter per dialect, chosen by route.

Clients never see a stack trace; every refusal names the field and the problem. A router picks its
dialect's error format with `route_class=dialect_route(formatter)`; the format follows the matched
route, not the path, because one path can speak two dialects (GET /api/notifications/messages is
seed 002's log, POST on the same path is Mambu v1's resend).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from commlog.store.database import is_database_unavailable

log = logging.getLogger("commlog.api")


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        problems: Sequence[Problem],
        code: str = "INVALID_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.status = status
        self.problems = list(problems)
        self.code = code
        #: Response headers the refusal needs, e.g. WWW-Authenticate on a 401.
        self.headers = headers or {}


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, [Problem(what, f"no message with encoded key {key!r} in this workspace")], "NOT_FOUND")


ErrorFormatter = Callable[[ApiError], JSONResponse]


def native_format(error: ApiError) -> JSONResponse:
    body = {"errors": [{"code": error.code, "field": p.field, "message": p.message} for p in error.problems]}
    return JSONResponse(body, status_code=error.status)


#: Route classes made by `dialect_route`, each with its dialect's format.
_ROUTE_FORMATS: dict[type[APIRoute], ErrorFormatter] = {}


def dialect_route(formatter: ErrorFormatter) -> type[APIRoute]:
    """A route class for `APIRouter(route_class=...)`: every route of that router shows errors with `formatter`.

    Routes of plain APIRouters use the native format.
    """
    route_class = type(f"{formatter.__name__}_route", (APIRoute,), {})
    _ROUTE_FORMATS[route_class] = formatter
    return route_class


def _formatter_for(request: Request) -> ErrorFormatter:
    """The matched route's format; a request that matched no route (404) gets the native one."""
    route = request.scope.get("route")
    return native_format if route is None else _ROUTE_FORMATS.get(type(route), native_format)


def field_path(location: Sequence[Any]) -> str:
    """('body', 'messages', 3, 'type') -> 'messages[3].type'."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "header", "path", "cookie"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def problems_from_validation(errors: Sequence[Any]) -> list[Problem]:
    problems = []
    for error in errors:
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "missing":
            message = "is required"
        elif error.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif error.get("type") == "json_invalid":
            message = f"is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
        problems.append(Problem(field_path(error.get("loc", ())), message))
    return problems


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = _formatter_for(request)(exc)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = ApiError(422, problems_from_validation(exc.errors()), "INVALID_FIELD")
        return _formatter_for(request)(error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ApiError(exc.status_code, [Problem("path", str(exc.detail))], "HTTP_ERROR")
        return _formatter_for(request)(error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = ApiError(500, [Problem("server", "internal error; it has been logged")], "INTERNAL_ERROR")
        return _formatter_for(request)(error)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """The database is away (restart, failover, network): a 503 the client may retry, not a 500."""
        if not is_database_unavailable(exc):
            return await _unexpected(request, exc)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        error = ApiError(
            503,
            [Problem("server", "the database is unavailable; try again shortly")],
            "SERVICE_UNAVAILABLE",
            {"Retry-After": str(DATABASE_RETRY_AFTER)},
        )
        response = _formatter_for(request)(error)
        response.headers.update(error.headers)
        return response

    for kind in (DBAPIError, OSError):
        app.add_exception_handler(kind, _database_unavailable)


#: Seconds a client is asked to wait when the database is unavailable.
DATABASE_RETRY_AFTER = 2
