"""The kinds of event on the log's stream, and how a subscriber's cursor is read."""

from __future__ import annotations

import re
from enum import StrEnum


class EventKind(StrEnum):
    MESSAGE_CREATED = "message.created"
    ATTEMPT_MADE = "attempt.made"
    STATE_CHANGED = "state.changed"
    #: A stream notification (type EVENT_STREAM) for one subscriber, which it acknowledges.
    NOTIFICATION = "notification"


_CURSOR = re.compile(r"^[0-9]{1,18}$")


def parse_cursor(value: str) -> int | None:
    """An event id a subscriber resumes after, or None if `value` is not one."""
    text = value.strip()
    return int(text) if _CURSOR.match(text) else None
