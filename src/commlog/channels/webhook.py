"""Webhooks: an HTTP POST with aiohttp, signed per the Standard Webhooks spec."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from commlog.channels.base import OutboundMessage
from commlog.domain.clock import Clock, utc_now
from commlog.domain.http_outcomes import EXCERPT_CHARS, classify_http_status, parse_retry_after
from commlog.domain.outcome import DeliveryOutcome

USER_AGENT = "commlog-webhooks/0.1"
#: Bytes of a response body we read, at most: enough for an excerpt, never a whole download.
READ_LIMIT = 4096


def webhook_id(message_key: str) -> str:
    """Stable across every retry of one message, so receivers can deduplicate."""
    return f"msg_{message_key}"


class _Signers:
    """One HMAC signer per secret: building one decodes base64 each time, which adds up."""

    def __init__(self) -> None:
        self._by_secret: dict[str, Webhook] = {}

    def sign(self, secret: str, msg_id: str, when: datetime, body: str) -> str:
        signer = self._by_secret.get(secret)
        if signer is None:
            signer = self._by_secret[secret] = Webhook(secret)
        return str(signer.sign(msg_id=msg_id, timestamp=when, data=body))


class WebhookChannel:
    def __init__(self, timeout: float = 10.0, concurrency: int = 200, clock: Clock = utc_now) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._concurrency = concurrency
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._signers = _Signers()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._concurrency, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        return self._session

    def signed_headers(self, message: OutboundMessage, when: datetime) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        headers.update({k.lower(): v for k, v in (message.headers or {}).items()})
        msg_id = webhook_id(message.key)
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(int(when.timestamp()))
        if message.signing_secret:
            headers["webhook-signature"] = self._signers.sign(
                message.signing_secret, msg_id, when.astimezone(UTC), message.body
            )
        return headers

    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        headers = self.signed_headers(message, self._clock())
        try:
            async with self._client().post(
                message.destination, data=message.body.encode(), headers=headers, allow_redirects=False
            ) as response:
                excerpt = (await response.content.read(READ_LIMIT)).decode("utf-8", "replace")
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                return classify_http_status(response.status, excerpt, retry_after)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            return DeliveryOutcome.failure("TIMEOUT", f"no answer within {self._timeout.total}s ({exc!r})"[:500])
        except aiohttp.ClientConnectorDNSError as exc:
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
