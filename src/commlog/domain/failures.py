"""The catalogue of failure reasons: each with its category, an explanation, an action and a wait.

Channels classify what a provider said into one of these reasons at the edge (DESIGN.md, idea 5);
everything else (retry engine, dashboard, statistics) reads only the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureCategory(StrEnum):
    """Seed 003's three kinds of failure: green, red and yellow on the dashboard."""

    RETRYABLE = "RETRYABLE"
    NON_RETRYABLE = "NON_RETRYABLE"
    BUSINESS_LOGIC = "BUSINESS_LOGIC"


@dataclass(frozen=True, slots=True)
class FailureInfo:
    reason: str
    category: FailureCategory
    explanation: str
    action: str
    #: Seconds to wait before a retry can help, where known; a provider's own figure wins over it.
    recommended_wait: float | None = None


R = FailureCategory.RETRYABLE
N = FailureCategory.NON_RETRYABLE
B = FailureCategory.BUSINESS_LOGIC

_CATALOGUE: tuple[FailureInfo, ...] = (
    # Mambu's own reasons.
    FailureInfo(
        "INVALID_HTTP_RESPONSE",
        N,
        "The receiving server answered with an error status.",
        "Check the endpoint's logs for why it refused the request.",
    ),
    FailureInfo(
        "HTTP_ERROR_WHILE_SENDING",
        R,
        "The request could not be completed because of a network error.",
        "Usually temporary; it will be retried.",
        60,
    ),
    FailureInfo("BLACKLISTED_URL", N, "The destination address is not allowed.", "Use a public destination address."),
    FailureInfo(
        "INVALID_HTTP_PROTOCOL",
        N,
        "The destination is not an http or https address.",
        "Correct the destination address.",
    ),
    FailureInfo("UNDEFINED_DESTINATION", N, "The message has no destination.", "Add a destination."),
    FailureInfo(
        "MAX_MESSAGE_SIZE_LIMIT_EXCEEDED",
        N,
        "The message is larger than the destination accepts.",
        "Shorten the message.",
    ),
    FailureInfo(
        "INVALID_SMTP_CREDENTIALS",
        N,
        "The mail server refused commlog's user name or password.",
        "An administrator must correct the SMTP settings, then resend.",
    ),
    FailureInfo(
        "EMAIL_SERVICE_NOT_ENABLED",
        N,
        "No mail server is configured for this workspace.",
        "An administrator must configure SMTP, then resend.",
    ),
    FailureInfo(
        "MISSING_EMAIL_RECIPIENT_ADDRESS",
        N,
        "The email has no valid recipient address.",
        "Correct the recipient's email address.",
    ),
    FailureInfo(
        "SMS_GATEWAY_ERROR",
        R,
        "The SMS provider reported an error on its side.",
        "Usually temporary; it will be retried.",
        300,
    ),
    FailureInfo(
        "INVALID_SMS_GATEWAY_CREDENTIALS",
        N,
        "The SMS provider refused commlog's credentials.",
        "An administrator must correct the SMS settings, then resend.",
    ),
    FailureInfo(
        "SMS_SERVICE_NOT_ENABLED",
        N,
        "No SMS provider is configured for this workspace.",
        "An administrator must configure SMS, then resend.",
    ),
    FailureInfo("MISSING_SMS_RECIPIENT", N, "The SMS has no recipient number.", "Add the recipient's number."),
    FailureInfo("SMS_TOO_LONG", N, "The text is longer than the SMS provider accepts.", "Shorten the text."),
    FailureInfo(
        "OTHER",
        N,
        "The message failed for a reason commlog does not recognise.",
        "Read the failure details; contact support if unclear.",
    ),
    # Finer reasons of commlog's own, where the seeds need them.
    FailureInfo(
        "CONNECTION_REFUSED",
        R,
        "The destination refused the connection: it may be down.",
        "Usually temporary; it will be retried.",
        60,
    ),
    FailureInfo(
        "DNS_FAILURE",
        R,
        "The destination's host name could not be resolved.",
        "Check the destination address; it will be retried in case DNS recovers.",
        300,
    ),
    FailureInfo(
        "TLS_ERROR",
        R,
        "The secure connection to the destination could not be established.",
        "Check the destination's certificate; it will be retried.",
        300,
    ),
    FailureInfo("TIMEOUT", R, "The destination did not answer in time.", "Usually temporary; it will be retried.", 60),
    FailureInfo(
        "SERVER_ERROR",
        R,
        "The destination had a temporary problem (HTTP 5xx).",
        "Usually temporary; it will be retried.",
        60,
    ),
    FailureInfo(
        "REQUEST_TIMEOUT",
        R,
        "The destination timed out reading the request (HTTP 408).",
        "Usually temporary; it will be retried.",
        60,
    ),
    FailureInfo(
        "RATE_LIMITED",
        R,
        "The destination asked commlog to slow down.",
        "Wait; it will be retried after the time the destination asked for.",
        60,
    ),
    FailureInfo(
        "ENDPOINT_GONE",
        N,
        "The destination says this address no longer exists (HTTP 410).",
        "Remove or correct the destination.",
    ),
    FailureInfo(
        "DAILY_LIMIT_REACHED",
        B,
        "The workspace's daily sending limit for this channel was reached.",
        "Wait until the limit resets, or raise the limit.",
        86400,
    ),
    FailureInfo(
        "RECIPIENT_OPTED_OUT",
        N,
        "The recipient opted out of these messages.",
        "Do not resend unless the recipient opts in again.",
    ),
    FailureInfo(
        "INVALID_RECIPIENT",
        N,
        "The recipient address or number is invalid.",
        "Correct the recipient's address or number.",
    ),
    FailureInfo(
        "WORKER_LEASE_EXPIRED",
        R,
        "The worker delivering the message stopped before it finished.",
        "Nothing; another worker picks the message up.",
        0,
    ),
)

CATALOGUE: dict[str, FailureInfo] = {info.reason: info for info in _CATALOGUE}


def describe(reason: str) -> FailureInfo:
    """The catalogue entry for a reason; an unknown reason reads as OTHER rather than failing."""
    return CATALOGUE.get(reason, CATALOGUE["OTHER"])
