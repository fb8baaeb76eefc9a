"""One error type for whatever the server refuses, whichever of its dialects answered.

The native API answers `{"errors": [{"code", "field", "message"}]}`, Mambu v1 one
`{"returnCode", "returnStatus", "errorSource"}`, Mambu v2 `{"errors": [{"errorCode", "errorSource",
"errorReason"}]}`; all become a `CommlogError` with the status, the problems and one readable message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One problem the server named: the field (`filterConstraints[0].value`), what is wrong, its code."""

    field: str | None
    message: str
    code: str | None = None


class CommlogError(Exception):
    """The server refused a request (`status` is its HTTP status), or did not answer (`status` None)."""

    def __init__(self, status: int | None, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(f"{status}: {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.details = details or []


#: Where Mambu v1 joins two problems in its one errorSource: "; " before the next `<field>: `.
_NEXT_PROBLEM = re.compile(r"; (?=[A-Za-z_][\w.\[\]]*: )")


def _source(source: str, code: str | None) -> ErrorDetail:
    """Mambu's errorSource is `<field>: <what is wrong>`."""
    field, separator, message = source.partition(": ")
    return ErrorDetail(field, message, code) if separator else ErrorDetail(None, source, code)


def _details(body: Any) -> list[ErrorDetail]:
    if not isinstance(body, dict):
        return []
    if "returnCode" in body:
        code = str(body.get("returnStatus") or body["returnCode"])
        return [_source(part, code) for part in _NEXT_PROBLEM.split(str(body.get("errorSource") or code))]
    details = []
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        if "errorSource" in error:
            details.append(_source(str(error["errorSource"]), error.get("errorReason")))
        else:
            details.append(ErrorDetail(error.get("field"), str(error.get("message", "")), error.get("code")))
    return details


def error_from(response: httpx.Response) -> CommlogError:
    """The refusal in `response` as a CommlogError."""
    try:
        body = response.json()
    except ValueError:
        body = None
    details = _details(body)
    if details:
        message = "; ".join(f"{d.field}: {d.message}" if d.field else d.message for d in details)
    else:
        message = response.text.strip() or response.reason_phrase
    return CommlogError(response.status_code, message, details)
