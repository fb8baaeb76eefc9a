"""The one interface every channel implements: deliver a rendered message, report the outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from commlog.domain.outcome import DeliveryOutcome


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message as rendered and stored at creation, plus what its workspace configures for it."""

    key: str
    workspace_id: str
    type: str
    destination: str
    subject: str | None
    body: str
    headers: dict[str, str] | None
    attempt_number: int
    signing_secret: str | None = None
    settings: dict[str, Any] | None = None


class Channel(Protocol):
    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        """Try once; never raise for anything the destination or network did."""
        ...

    async def close(self) -> None: ...


class UnconfiguredChannel:
    """Stands in for a channel this deployment cannot send on, so such messages fail clearly."""

    def __init__(self, reason: str, cause: str) -> None:
        self._reason = reason
        self._cause = cause

    async def deliver(self, message: OutboundMessage) -> DeliveryOutcome:
        return DeliveryOutcome.failure(self._reason, self._cause)

    async def close(self) -> None:
        return None
