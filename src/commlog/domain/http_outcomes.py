"""How an HTTP reply maps onto the failure catalogue; shared by every HTTP-based channel."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from commlog.domain.outcome import DeliveryOutcome

EXCERPT_CHARS = 500


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify_http_status(status: int, body_excerpt: str | None, retry_after: float | None) -> DeliveryOutcome:
    """2xx is delivered; 408, 429 and 5xx are worth retrying; 410 and other replies are not."""
    excerpt = body_excerpt[:EXCERPT_CHARS] if body_excerpt else None
    if 200 <= status < 300:
        return DeliveryOutcome(sent=True, status_code=status, response_excerpt=excerpt)
    if status == 408:
        reason = "REQUEST_TIMEOUT"
    elif status == 429:
        reason = "RATE_LIMITED"
    elif status >= 500:
        reason = "SERVER_ERROR"
    elif status == 410:
        reason = "ENDPOINT_GONE"
    else:
        reason = "INVALID_HTTP_RESPONSE"
    return DeliveryOutcome.failure(
        reason,
        f"HTTP {status}",
        status_code=status,
        response_excerpt=excerpt,
        retry_after=retry_after if reason in ("RATE_LIMITED", "SERVER_ERROR") else None,
    )
