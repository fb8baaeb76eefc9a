"""The sync `Client` and the `AsyncClient`: the same methods, over httpx, with the caller's API key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from commlog.sdk import calls
from commlog.sdk.calls import Call, Constraint
from commlog.sdk.errors import CommlogError
from commlog.sdk.models import (
    History,
    LogEntry,
    Message,
    MessageOptions,
    MessagePage,
    Notification,
    ResendResult,
    SearchMessage,
)

T = TypeVar("T")

#: The page size `iter_messages` reads with unless `limit` says otherwise.
ITER_LIMIT = 200


def _headers(api_key: str) -> dict[str, str]:
    return {"apiKey": api_key, "Accept": "application/json"}


def _unanswered(base_url: str, error: httpx.HTTPError) -> CommlogError:
    return CommlogError(None, f"no answer from {base_url}: {error!r}")


def _iter_options(options: MessageOptions) -> MessageOptions:
    return {"limit": ITER_LIMIT, **options}


class Client:
    """commlog's API from synchronous code.

    >>> with Client("http://127.0.0.1:8000", "cl_...") as commlog:
    ...     page = commlog.get_messages(status="failed", limit=50)
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=_headers(api_key), timeout=timeout)

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, json=call.body, headers=call.headers
            )
        except httpx.HTTPError as error:
            raise _unanswered(self.base_url, error) from error
        return call.answer(response)

    def get_messages(self, **options: Unpack[MessageOptions]) -> MessagePage:
        """One page of the log (seed 002's getMessages), newest first."""
        return self._send(calls.get_messages(options))

    def iter_messages(self, **options: Unpack[MessageOptions]) -> Iterator[LogEntry]:
        """Every matching entry, page after page; a cursor carries on, so none is skipped or repeated."""
        page = self._send(calls.get_messages(_iter_options(options)))
        yield from page.items
        while page.has_more and page.next_cursor is not None:
            page = self._send(calls.get_messages(_iter_options(options), page.next_cursor))
            yield from page.items

    def search(
        self,
        filter_constraints: Sequence[Constraint],
        *,
        sorting_column: str | None = None,
        sorting_order: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> list[SearchMessage]:
        """Seed 001's search: messages matching every constraint, newest first unless sorted otherwise."""
        return self._send(calls.search(filter_constraints, sorting_column, sorting_order, offset, limit))

    def get(self, key: str) -> Message:
        """One message with its delivery attempts, oldest first."""
        return self._send(calls.get(key))

    def history(self, key: str) -> History:
        """The retry history of the chain `key` belongs to."""
        return self._send(calls.history(key))

    def submit(self, *, idempotency_key: str | None = None, **fields: Any) -> Message:
        """Log one notification and queue it: `submit(type="WEB_HOOK", destination=..., body=...)`."""
        return self._send(calls.submit(fields, idempotency_key))

    def notify(
        self, channels: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None, **fields: Any
    ) -> Notification:
        """Send one notification on several channels: one message per channel, all linked to it."""
        return self._send(calls.notify(channels, fields, idempotency_key))

    def resend(self, keys: Sequence[str], *, idempotency_key: str | None = None) -> ResendResult:
        """Resend FAILED messages (all or none), each as a new message linked to its original."""
        return self._send(calls.resend(keys, idempotency_key))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """commlog's API from asyncio code; the same methods as `Client`, awaited.

    >>> async with AsyncClient("http://127.0.0.1:8000", "cl_...") as commlog:
    ...     async for entry in commlog.iter_messages(env="prd", status="failed"):
    ...         print(entry.notification_tag, entry.error)
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=_headers(api_key), timeout=timeout)

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.body, headers=call.headers
            )
        except httpx.HTTPError as error:
            raise _unanswered(self.base_url, error) from error
        return call.answer(response)

    async def get_messages(self, **options: Unpack[MessageOptions]) -> MessagePage:
        """One page of the log (seed 002's getMessages), newest first."""
        return await self._send(calls.get_messages(options))

    async def iter_messages(self, **options: Unpack[MessageOptions]) -> AsyncIterator[LogEntry]:
        """Every matching entry, page after page; a cursor carries on, so none is skipped or repeated."""
        page = await self._send(calls.get_messages(_iter_options(options)))
        for entry in page.items:
            yield entry
        while page.has_more and page.next_cursor is not None:
            page = await self._send(calls.get_messages(_iter_options(options), page.next_cursor))
            for entry in page.items:
                yield entry

    async def search(
        self,
        filter_constraints: Sequence[Constraint],
        *,
        sorting_column: str | None = None,
        sorting_order: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
    ) -> list[SearchMessage]:
        """Seed 001's search: messages matching every constraint, newest first unless sorted otherwise."""
        return await self._send(calls.search(filter_constraints, sorting_column, sorting_order, offset, limit))

    async def get(self, key: str) -> Message:
        """One message with its delivery attempts, oldest first."""
        return await self._send(calls.get(key))

    async def history(self, key: str) -> History:
        """The retry history of the chain `key` belongs to."""
        return await self._send(calls.history(key))

    async def submit(self, *, idempotency_key: str | None = None, **fields: Any) -> Message:
        """Log one notification and queue it: `await submit(type="WEB_HOOK", destination=..., body=...)`."""
        return await self._send(calls.submit(fields, idempotency_key))

    async def notify(
        self, channels: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None, **fields: Any
    ) -> Notification:
        """Send one notification on several channels: one message per channel, all linked to it."""
        return await self._send(calls.notify(channels, fields, idempotency_key))

    async def resend(self, keys: Sequence[str], *, idempotency_key: str | None = None) -> ResendResult:
        """Resend FAILED messages (all or none), each as a new message linked to its original."""
        return await self._send(calls.resend(keys, idempotency_key))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
