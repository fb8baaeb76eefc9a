"""Each SDK method as one `Call`: the request to make and how to read its answer.

The sync and the async client only differ in how they send a Call, so what each method asks and
answers is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter
from pydantic.alias_generators import to_camel

from commlog.sdk.errors import error_from
from commlog.sdk.models import (
    FilterConstraint,
    History,
    Message,
    MessageOptions,
    MessagePage,
    Notification,
    ResendResult,
    SearchMessage,
    query_params,
)

T = TypeVar("T")

#: A filter constraint as a dataclass, or as seed 001 writes it (camelCase keys).
Constraint = FilterConstraint | Mapping[str, Any]

SEARCH_RESULTS = TypeAdapter(list[SearchMessage])


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    params: dict[str, str] | None = None
    body: Any = None
    headers: dict[str, str] | None = None

    def answer(self, response: httpx.Response) -> T:
        """The answer read into its type, or the refusal raised as a CommlogError."""
        if not response.is_success:
            raise error_from(response)
        return self.read(response.json())


def _key_path(key: str, suffix: str = "") -> str:
    return f"/api/messages/{quote(key, safe='')}{suffix}"


def _idempotency(key: str | None) -> dict[str, str] | None:
    return {"Idempotency-Key": key} if key else None


def get_messages(options: MessageOptions, cursor: str | None = None) -> Call[MessagePage]:
    return Call("GET", "/api/notifications/messages", MessagePage.read, params=query_params(options, cursor))


def search(
    constraints: Sequence[Constraint],
    sorting_column: str | None,
    sorting_order: str | None,
    offset: int | None,
    limit: int | None,
) -> Call[list[SearchMessage]]:
    body: dict[str, Any] = {
        "filterConstraints": [c.to_json() if isinstance(c, FilterConstraint) else dict(c) for c in constraints]
    }
    if sorting_column is not None or sorting_order is not None:
        sort = {"sortingColumn": sorting_column, "sortingOrder": sorting_order}
        body["sortDetails"] = {name: value for name, value in sort.items() if value is not None}
    paging = {"offset": offset, "limit": limit}
    params = {name: str(value) for name, value in paging.items() if value is not None}
    return Call("POST", "/api/notifications/messages/search", SEARCH_RESULTS.validate_python, params, body)


def get(key: str) -> Call[Message]:
    return Call("GET", _key_path(key), Message.model_validate)


def history(key: str) -> Call[History]:
    return Call("GET", _key_path(key, "/history"), History.model_validate)


def submit(fields: Mapping[str, Any], idempotency_key: str | None) -> Call[Message]:
    """Fields in snake_case (client_key=...) or camelCase; the server validates them."""
    body = {to_camel(name): value for name, value in fields.items() if value is not None}
    return Call("POST", "/api/messages", Message.model_validate, body=body, headers=_idempotency(idempotency_key))


def notify(
    channels: Sequence[Mapping[str, Any]], fields: Mapping[str, Any], idempotency_key: str | None
) -> Call[Notification]:
    """A multi-channel notification: `channels` are {type, destination, subject?, body?, headers?}."""
    body = {to_camel(name): value for name, value in fields.items() if value is not None}
    body |= {"type": "NOTIFICATION", "channels": [dict(channel) for channel in channels]}
    headers = _idempotency(idempotency_key)
    return Call("POST", "/api/messages", Notification.model_validate, body=body, headers=headers)


def resend(keys: Sequence[str], idempotency_key: str | None) -> Call[ResendResult]:
    body = {"encodedKeys": list(keys)}
    headers = _idempotency(idempotency_key)
    return Call("POST", "/api/messages:resend", ResendResult.model_validate, body=body, headers=headers)
