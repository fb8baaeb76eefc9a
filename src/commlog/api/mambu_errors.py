"""Mambu's error bodies, so existing Mambu clients read commlog's refusals as they read Mambu's.

API v1 answers one error: `{"returnCode": 4, "returnStatus": "INVALID_PARAMETERS", "errorSource": ...}`;
API v2 answers a list: `{"errors": [{"errorCode": 4, "errorSource": ..., "errorReason": ...}]}`.
`errorSource` is `<field path>: <what is wrong>`, e.g. `filterCriteria[0].field: 'colour' is not a field`,
so it points at the offending part and says why.

Routers speaking a Mambu dialect use `route_class=MambuV1Route` or `MambuV2Route`.
"""

from __future__ import annotations

from enum import IntEnum

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from commlog.api.errors import ApiError, Problem, dialect_route


class MambuCode(IntEnum):
    """Mambu's generic response codes (shared by API v1 and v2) that commlog can answer."""

    SUCCESS = 0
    INVALID_BASIC_AUTHORIZATION = 1
    INVALID_CREDENTIALS = 2
    INVALID_PARAMETERS = 4
    METHOD_NOT_IMPLEMENTED = 5
    INTERNAL_ERROR = 6
    API_NOT_AUTHORIZED = 7
    #: Mambu's paging codes: 11/13 for a value that is not a whole number, 12/14 for one out of bounds.
    INVALID_PAGINATION_OFFSET_VALUE = 11
    OUT_OF_BOUNDS_PAGINATION_OFFSET_VALUE = 12
    INVALID_PAGINATION_LIMIT_VALUE = 13
    OUT_OF_BOUNDS_PAGINATION_LIMIT_VALUE = 14
    INVALID_PERMISSIONS = 15


#: The code for an error raised without a Mambu code name, by its HTTP status.
_BY_STATUS: dict[int, MambuCode] = {
    401: MambuCode.INVALID_CREDENTIALS,
    403: MambuCode.INVALID_PERMISSIONS,
    405: MambuCode.METHOD_NOT_IMPLEMENTED,
    500: MambuCode.INTERNAL_ERROR,
}


def mambu_code(error: ApiError) -> MambuCode:
    """An ApiError whose code is a Mambu code name keeps it; otherwise its HTTP status decides."""
    if error.code in MambuCode.__members__:
        return MambuCode[error.code]
    return _BY_STATUS.get(error.status, MambuCode.INVALID_PARAMETERS)


def _status(error: ApiError) -> int:
    """Mambu answers 400 for every invalid parameter, where FastAPI's validation says 422."""
    return 400 if error.status == 422 else error.status


def _source(problem: Problem) -> str:
    return f"{problem.field}: {problem.message}"


def mambu_v1_format(error: ApiError) -> JSONResponse:
    """v1 has room for one error; several problems share one errorSource, separated by '; '."""
    code = mambu_code(error)
    body = {
        "returnCode": int(code),
        "returnStatus": code.name,
        "errorSource": "; ".join(_source(p) for p in error.problems),
    }
    return JSONResponse(body, status_code=_status(error))


def mambu_v2_format(error: ApiError) -> JSONResponse:
    code = mambu_code(error)
    errors = [{"errorCode": int(code), "errorSource": _source(p), "errorReason": code.name} for p in error.problems]
    return JSONResponse({"errors": errors}, status_code=_status(error))


MambuV1Route: type[APIRoute] = dialect_route(mambu_v1_format)
MambuV2Route: type[APIRoute] = dialect_route(mambu_v2_format)
