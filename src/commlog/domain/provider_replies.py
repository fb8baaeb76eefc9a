"""What providers say in their own terms, mapped onto the failure catalogue.

SMTP reply codes (RFC 5321), Twilio's numeric error codes and Firebase Cloud Messaging's error
statuses each have one function here, so a channel only extracts the code and asks.
"""

from __future__ import annotations

from commlog.domain.http_outcomes import classify_http_status

_SMTP_CODES: dict[int, str] = {
    421: "SMTP_SERVICE_UNAVAILABLE",
    450: "SMTP_MAILBOX_BUSY",
    451: "SMTP_LOCAL_ERROR",
    452: "SMTP_INSUFFICIENT_STORAGE",
    530: "INVALID_SMTP_CREDENTIALS",
    534: "INVALID_SMTP_CREDENTIALS",
    535: "INVALID_SMTP_CREDENTIALS",
    550: "SMTP_MAILBOX_UNAVAILABLE",
    551: "SMTP_MAILBOX_UNAVAILABLE",
    552: "MAX_MESSAGE_SIZE_LIMIT_EXCEEDED",
    553: "SMTP_ADDRESS_REJECTED",
    554: "SMTP_TRANSACTION_FAILED",
}


def smtp_reply_reason(code: int) -> str:
    """4xx replies are transient by definition, 5xx permanent; the common ones get their own reason."""
    if code in _SMTP_CODES:
        return _SMTP_CODES[code]
    return "SMTP_TEMPORARY_FAILURE" if 400 <= code < 500 else "SMTP_PERMANENT_FAILURE"


#: Twilio's error codes (https://www.twilio.com/docs/api/errors) that say more than the HTTP status.
_TWILIO_CODES: dict[int, str] = {
    20003: "INVALID_SMS_GATEWAY_CREDENTIALS",  # authentication failed
    20429: "RATE_LIMITED",  # too many requests
    14107: "RATE_LIMITED",  # SMS send rate limit exceeded
    21211: "INVALID_RECIPIENT",  # invalid 'To' phone number
    21612: "INVALID_RECIPIENT",  # 'To' number not reachable via SMS
    21614: "INVALID_RECIPIENT",  # 'To' number is not a mobile number
    21408: "SMS_REGION_NOT_PERMITTED",  # permission to send to this region is not enabled
    21606: "SMS_SENDER_INVALID",  # 'From' number is not a valid, SMS-capable number of the account
    21610: "RECIPIENT_OPTED_OUT",  # the recipient replied STOP
    21617: "SMS_TOO_LONG",  # body exceeds 1,600 characters
    30001: "SMS_QUEUE_OVERFLOW",  # queue overflow
}


def twilio_error_reason(status: int, code: int | None) -> str:
    """Twilio's numeric code when it is a known one, else what the HTTP status says for an SMS provider."""
    if code is not None and code in _TWILIO_CODES:
        return _TWILIO_CODES[code]
    return sms_gateway_status_reason(status)


def sms_gateway_status_reason(status: int) -> str:
    """For an SMS gateway that only speaks HTTP statuses."""
    if status in (401, 403):
        return "INVALID_SMS_GATEWAY_CREDENTIALS"
    if status >= 500:
        return "SMS_GATEWAY_ERROR"
    return _generic_reason(status)


#: FCM HTTP v1's error codes (`FcmError.errorCode`, else the Google API `status`).
_FCM_CODES: dict[str, str] = {
    "UNREGISTERED": "PUSH_TOKEN_UNREGISTERED",
    "INVALID_ARGUMENT": "PUSH_INVALID_ARGUMENT",
    "SENDER_ID_MISMATCH": "PUSH_SENDER_MISMATCH",
    "NOT_FOUND": "PUSH_NOT_FOUND",
    "THIRD_PARTY_AUTH_ERROR": "PUSH_THIRD_PARTY_AUTH_ERROR",
    "QUOTA_EXCEEDED": "PUSH_QUOTA_EXCEEDED",
    "RESOURCE_EXHAUSTED": "PUSH_QUOTA_EXCEEDED",
    "UNAVAILABLE": "PUSH_PROVIDER_UNAVAILABLE",
    "INTERNAL": "PUSH_PROVIDER_ERROR",
    "UNAUTHENTICATED": "INVALID_PUSH_CREDENTIALS",
    "PERMISSION_DENIED": "INVALID_PUSH_CREDENTIALS",
}


def fcm_error_reason(status: int, error_code: str | None, api_status: str | None) -> str:
    """FCM's own error code wins over the Google API status, which wins over the HTTP status."""
    for code in (error_code, api_status):
        if code and code in _FCM_CODES:
            return _FCM_CODES[code]
    if status in (401, 403):
        return "INVALID_PUSH_CREDENTIALS"
    if status == 404:
        return "PUSH_NOT_FOUND"
    if status == 429:
        return "PUSH_QUOTA_EXCEEDED"
    if status == 503:
        return "PUSH_PROVIDER_UNAVAILABLE"
    if status >= 500:
        return "PUSH_PROVIDER_ERROR"
    return _generic_reason(status)


def _generic_reason(status: int) -> str:
    reason = classify_http_status(status, None, None).failure_reason
    return reason or "OTHER"
