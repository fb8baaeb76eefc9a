"""HTTP plumbing shared by every HTTP-based channel (webhook, SMS, push).

One pooled aiohttp session per channel, a bounded read of each reply, and one mapping of what can
go wrong on the way (timeout, refused connection, DNS, TLS) onto the failure catalogue, so each
provider adapter only says what its provider's replies mean.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from commlog.domain.addresses import is_blocked_address, is_ip_literal
from commlog.domain.clock import Clock
from commlog.domain.failures import FailureCategory, describe
from commlog.domain.http_outcomes import EXCERPT_CHARS, parse_retry_after
from commlog.domain.outcome import DeliveryOutcome

#: Bytes of a response body we read, at most: enough for an excerpt or an error body, never a download.
READ_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (a proxy's HTML error page, say)."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def excerpt(self) -> str:
        return self.text[:EXCERPT_CHARS]


def provider_failure(reason: str, reply: HttpReply, provider_reply: str | None, clock: Clock) -> DeliveryOutcome:
    """A provider's refusal, keeping its own words; its Retry-After counts unless retrying cannot help."""
    retry_after = None
    if describe(reason).category is not FailureCategory.NON_RETRYABLE:
        retry_after = parse_retry_after(reply.headers.get("Retry-After"), clock())
    return DeliveryOutcome.failure(
        reason,
        f"HTTP {reply.status}: {provider_reply}"[:EXCERPT_CHARS] if provider_reply else f"HTTP {reply.status}",
        status_code=reply.status,
        provider_reply=provider_reply[:EXCERPT_CHARS] if provider_reply else None,
        response_excerpt=reply.excerpt,
        retry_after=retry_after,
    )


def accepted(reply: HttpReply, provider_message_id: Any, provider_reply: str | None = None) -> DeliveryOutcome:
    """A provider took the message; its id for it is recorded when it gave one."""
    return DeliveryOutcome(
        sent=True,
        status_code=reply.status,
        provider_reply=provider_reply,
        response_excerpt=reply.excerpt,
        provider_message_id=str(provider_message_id)[:255] if provider_message_id else None,
    )


class BlockedDestinationError(OSError):
    """A destination resolved to an address that private-destination blocking refuses."""


class PublicOnlyResolver(AbstractResolver):
    """Resolves as usual, then refuses the host if any of its addresses is not public.

    The check runs on the addresses the connection will actually use, at connect time, so a name
    that resolved to a public address at submit and to 127.0.0.1 now (DNS rebinding) is refused.
    """

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        blocked = sorted({r["host"] for r in found if is_blocked_address(r["host"])})
        if blocked:
            raise BlockedDestinationError(f"{host} resolves to {', '.join(blocked)}; private destinations are blocked")
        return found

    async def close(self) -> None:
        await self._resolver.close()


class HttpTransport:
    def __init__(self, timeout: float, concurrency: int, user_agent: str, *, block_private: bool = False) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._concurrency = concurrency
        self._user_agent = user_agent
        self._block_private = block_private
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = PublicOnlyResolver() if self._block_private else None
            connector = aiohttp.TCPConnector(limit=self._concurrency, ttl_dns_cache=60, resolver=resolver)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers={"User-Agent": self._user_agent}
            )
        return self._session

    async def post(
        self,
        url: str,
        *,
        data: bytes | Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> HttpReply | DeliveryOutcome:
        """The reply, whatever its status; a failure outcome when no reply came."""
        if self._block_private:
            # IP literals never reach the resolver, and cannot rebind: they are judged as written.
            host = urlsplit(url).hostname or ""
            if is_ip_literal(host) and is_blocked_address(host):
                return DeliveryOutcome.failure(
                    "BLACKLISTED_URL", f"{host} is a private address; private destinations are blocked"
                )
        try:
            async with self._client().post(url, data=data, headers=headers, allow_redirects=False) as response:
                body = (await response.content.read(READ_LIMIT)).decode("utf-8", "replace")
                return HttpReply(response.status, response.headers, body)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            return DeliveryOutcome.failure("TIMEOUT", f"no answer within {self._timeout.total}s ({exc!r})"[:500])
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, BlockedDestinationError):
                return DeliveryOutcome.failure("BLACKLISTED_URL", str(exc.os_error)[:EXCERPT_CHARS])
            return DeliveryOutcome.failure("DNS_FAILURE", str(exc)[:EXCERPT_CHARS])
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as exc:
            return DeliveryOutcome.failure("TLS_ERROR", str(exc)[:EXCERPT_CHARS])
        except aiohttp.ClientConnectorError as exc:
            return DeliveryOutcome.failure("CONNECTION_REFUSED", str(exc)[:EXCERPT_CHARS])
        except aiohttp.InvalidURL as exc:
            return DeliveryOutcome.failure("INVALID_HTTP_PROTOCOL", f"not a valid URL: {exc}"[:EXCERPT_CHARS])
        except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
            return DeliveryOutcome.failure("HTTP_ERROR_WHILE_SENDING", f"{type(exc).__name__}: {exc}"[:500])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
