"""What a valid destination looks like for each channel, checked before anything is stored."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from commlog.domain.states import MessageType

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def destination_problem(message_type: MessageType, destination: str) -> str | None:
    """Why `destination` cannot be delivered on this channel, or None when it can be tried."""
    if message_type is MessageType.WEB_HOOK:
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
    if message_type is MessageType.EMAIL and not _EMAIL.match(destination):
        return "must be an email address"
    return None
