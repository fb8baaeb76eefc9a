"""What a channel reports after one delivery attempt."""

from __future__ import annotations

from dataclasses import dataclass

from commlog.domain.failures import FailureCategory, describe


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    sent: bool
    status_code: int | None = None
    #: The provider's reply in its own words (an SMTP reply line, an error code), for support agents.
    provider_reply: str | None = None
    response_excerpt: str | None = None
    failure_reason: str | None = None
    failure_cause: str | None = None
    #: Seconds the provider asked us to wait (Retry-After); overrides the catalogue's recommendation.
    retry_after: float | None = None
    provider_message_id: str | None = None

    @classmethod
    def failure(
        cls,
        reason: str,
        cause: str,
        *,
        status_code: int | None = None,
        provider_reply: str | None = None,
        response_excerpt: str | None = None,
        retry_after: float | None = None,
    ) -> DeliveryOutcome:
        return cls(
            sent=False,
            failure_reason=reason,
            failure_cause=cause,
            status_code=status_code,
            provider_reply=provider_reply,
            response_excerpt=response_excerpt,
            retry_after=retry_after,
        )

    @property
    def category(self) -> FailureCategory | None:
        return None if self.sent or self.failure_reason is None else describe(self.failure_reason).category

    @property
    def recommended_wait(self) -> float | None:
        if self.retry_after is not None:
            return self.retry_after
        return None if self.failure_reason is None else describe(self.failure_reason).recommended_wait
