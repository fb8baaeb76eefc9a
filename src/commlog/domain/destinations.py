"""What a valid destination looks like for each channel, checked before anything is stored."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from commlog.domain.states import MessageType

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
#: ITU-T E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
#: FCM registration tokens are long URL-safe strings; anything with spaces or controls is not one.
_PUSH_TOKEN = re.compile(r"^[\x21-\x7e]{8,4096}$")
#: A stream subscriber's name, as it appears in the stream's URL.
_SUBSCRIBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


def is_email_address(value: str) -> bool:
    return bool(_EMAIL.match(value))


def is_phone_number(value: str) -> bool:
    return bool(_E164.match(value))


def destination_problem(message_type: MessageType, destination: str) -> str | None:
    """Why `destination` cannot be delivered on this channel, or None when it can be tried."""
    if message_type is MessageType.WEB_HOOK:
        return _url_problem(destination)
    if message_type is MessageType.EMAIL and not is_email_address(destination):
        return "must be an email address"
    if message_type is MessageType.SMS and not is_phone_number(destination):
        return "must be a phone number in E.164 form, such as +14155550100"
    if message_type is MessageType.PUSH and not _PUSH_TOKEN.match(destination):
        return "must be a device registration token (8 to 4096 printable characters, no spaces)"
    if message_type is MessageType.EVENT_STREAM and not _SUBSCRIBER.match(destination):
        return "must be a subscriber name: letters, digits and . _ : - (at most 200)"
    return None


def _url_problem(destination: str) -> str | None:
    try:
        parts = urlsplit(destination)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "has an invalid port"
    return None
