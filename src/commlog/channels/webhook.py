"""Webhooks: an HTTP POST with aiohttp, signed per the Standard Webhooks spec."""

from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from commlog.channels.base import OutboundMessage
from commlog.channels.http import HttpTransport
from commlog.domain.clock import Clock, utc_now
from commlog.domain.http_outcomes import classify_http_status, parse_retry_after
from commlog.domain.outcome import DeliveryOutcome

USER_AGENT = "commlog-webhooks/0.1"


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
    def __init__(
        self, timeout: float = 10.0, concurrency: int = 200, clock: Clock = utc_now, *, block_private: bool = False
    ) -> None:
        self._http = HttpTransport(timeout, concurrency, USER_AGENT, block_private=block_private)
        self._clock = clock
        self._signers = _Signers()

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
        reply = await self._http.post(message.destination, data=message.body.encode(), headers=headers)
        if isinstance(reply, DeliveryOutcome):
            return reply
        retry_after = parse_retry_after(reply.headers.get("Retry-After"), self._clock())
        return classify_http_status(reply.status, reply.text, retry_after)

    async def close(self) -> None:
        await self._http.close()
