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
    # Email: what an SMTP server answered (RFC 5321 reply codes).
    FailureInfo(
        "SMTP_SERVICE_UNAVAILABLE",
        R,
        "The mail server is not available right now (SMTP 421).",
        "Usually temporary; it will be retried.",
        300,
    ),
    FailureInfo(
        "SMTP_MAILBOX_BUSY",
        R,
        "The recipient's mailbox is temporarily unavailable or greylisted (SMTP 450).",
        "Usually temporary; it will be retried.",
        600,
    ),
    FailureInfo(
        "SMTP_LOCAL_ERROR",
        R,
        "The mail server had a local error while processing the email (SMTP 451).",
        "Usually temporary; it will be retried.",
        300,
    ),
    FailureInfo(
        "SMTP_INSUFFICIENT_STORAGE",
        R,
        "The mail server is short of storage (SMTP 452).",
        "Usually temporary; it will be retried.",
        600,
    ),
    FailureInfo(
        "SMTP_TEMPORARY_FAILURE",
        R,
        "The mail server refused the email for now (an SMTP 4xx reply).",
        "Usually temporary; it will be retried.",
        300,
    ),
    FailureInfo(
        "SMTP_MAILBOX_UNAVAILABLE",
        N,
        "The recipient's mailbox does not exist or does not accept email (SMTP 550).",
        "Correct the recipient's email address.",
    ),
    FailureInfo(
        "SMTP_ADDRESS_REJECTED",
        N,
        "The mail server rejected an address of the email as not allowed (SMTP 553).",
        "Correct the recipient's address or the configured sender.",
    ),
    FailureInfo(
        "SMTP_TRANSACTION_FAILED",
        N,
        "The mail server refused the email, often as spam or by policy (SMTP 554).",
        "Read the server's reply; change the content or ask the receiving domain's administrator.",
    ),
    FailureInfo(
        "SMTP_PERMANENT_FAILURE",
        N,
        "The mail server refused the email for good (an SMTP 5xx reply).",
        "Read the server's reply; correct the email before resending.",
    ),
    FailureInfo(
        "SMTP_CONNECTION_LOST",
        R,
        "The mail server closed the connection before the email was accepted.",
        "Usually temporary; it will be retried.",
        60,
    ),
    FailureInfo(
        "SMTP_TLS_NOT_SUPPORTED",
        N,
        "The mail server does not offer the encryption the SMTP settings require.",
        "An administrator must correct the SMTP security setting, then resend.",
    ),
    # SMS: what a provider like Twilio answered.
    FailureInfo(
        "SMS_SENDER_INVALID",
        N,
        "The SMS provider does not accept the configured sender number for this message.",
        "An administrator must correct the SMS sender setting, then resend.",
    ),
    FailureInfo(
        "SMS_REGION_NOT_PERMITTED",
        N,
        "The SMS account is not permitted to send to the recipient's country.",
        "An administrator must enable the region with the provider, then resend.",
    ),
    FailureInfo(
        "SMS_QUEUE_OVERFLOW",
        R,
        "The SMS provider's queue for the sender is full.",
        "Usually temporary; it will be retried. Send more slowly if it persists.",
        600,
    ),
    # Push: what Firebase Cloud Messaging answered.
    FailureInfo(
        "PUSH_SERVICE_NOT_ENABLED",
        N,
        "No push provider is configured for this workspace.",
        "An administrator must configure push, then resend.",
    ),
    FailureInfo(
        "INVALID_PUSH_CREDENTIALS",
        N,
        "The push provider refused commlog's credentials.",
        "An administrator must correct the push settings, then resend.",
    ),
    FailureInfo(
        "PUSH_TOKEN_UNREGISTERED",
        N,
        "The device token is no longer registered: the app was uninstalled or the token expired.",
        "Remove the token; send to the device's current token.",
    ),
    FailureInfo(
        "PUSH_INVALID_ARGUMENT",
        N,
        "The push provider found the request invalid (a malformed token or payload).",
        "Correct the device token or the message content.",
    ),
    FailureInfo(
        "PUSH_SENDER_MISMATCH",
        N,
        "The device token belongs to another sender (project) than the configured one.",
        "Send with the project the token was registered for.",
    ),
    FailureInfo(
        "PUSH_NOT_FOUND",
        N,
        "The push provider knows no such device token or project (HTTP 404).",
        "Check the device token and the configured project id; drop the token if the app was removed.",
    ),
    FailureInfo(
        "PUSH_THIRD_PARTY_AUTH_ERROR",
        N,
        "The platform's push service (APNs or Web Push) refused the provider's credentials.",
        "An administrator must fix the platform credentials in the push provider, then resend.",
    ),
    FailureInfo(
        "PUSH_QUOTA_EXCEEDED",
        B,
        "The sending quota of the push project, or for this device, was exceeded.",
        "Wait for the quota to recover, then resend; send fewer messages to the device.",
        60,
    ),
    FailureInfo(
        "PUSH_PROVIDER_UNAVAILABLE",
        R,
        "The push provider is overloaded or unavailable.",
        "Usually temporary; it will be retried.",
        60,
    ),
    FailureInfo(
        "PUSH_PROVIDER_ERROR",
        R,
        "The push provider had an internal error.",
        "Usually temporary; it will be retried.",
        60,
    ),
    # Stream: a subscriber did not acknowledge a stream notification in time.
    FailureInfo(
        "STREAM_NOT_ACKNOWLEDGED",
        R,
        "The stream subscriber did not acknowledge the notification in time.",
        "Check that the subscriber reads the stream and acknowledges; it will be published again.",
        60,
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

#: Business-logic reasons whose rule lifts by itself once the recommended wait is over (a daily
#: limit resets at midnight), so the sweep retries them as it retries retryable failures.
LIFTS_AFTER_WAIT: frozenset[str] = frozenset({"DAILY_LIMIT_REACHED"})


def describe(reason: str) -> FailureInfo:
    """The catalogue entry for a reason; an unknown reason reads as OTHER rather than failing."""
    return CATALOGUE.get(reason, CATALOGUE["OTHER"])
