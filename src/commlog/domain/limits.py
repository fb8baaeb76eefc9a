"""Seed 003's business-logic limits as pure rules: daily sending limits per channel and opt-outs.

A daily limit counts the messages a workspace sends on a channel during one calendar day of the
workspace's time zone, so it resets at the workspace's midnight. The store keeps the counts; this
module only decides how many of a claimed batch may go, when the limit resets, and whether a
request to change the limits is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.states import MessageType

#: The largest limit a counter column holds (a 32-bit integer).
MAX_DAILY_LIMIT = 2**31 - 1
#: Stored for a suppression that covers every channel (a unique key cannot hold NULLs portably).
ALL_CHANNELS = "ALL"

_EMAIL_LIKE = re.compile(r"^[^@\s/:]+@[^@\s/:]+$")


def local_day(now: datetime, zone: tzinfo) -> date:
    """The calendar day `now` falls on in the workspace: the day its counts belong to."""
    return now.astimezone(zone).date()


def next_reset(now: datetime, zone: tzinfo) -> datetime:
    """The next midnight in `zone` after `now`, in UTC: when today's limits reset."""
    tomorrow = local_day(now, zone) + timedelta(days=1)
    return datetime.combine(tomorrow, time(), zone).astimezone(UTC)


def grant(limit: int | None, used: int, wanted: int) -> int:
    """How many of `wanted` messages may still go today when `used` already went (or are going)."""
    if limit is None:
        return wanted
    return max(0, min(wanted, limit - used))


def limit_reached(channel: str, limit: int, now: datetime, zone: tzinfo) -> DeliveryOutcome:
    """The failure of a message over its channel's daily limit; its wait ends when the limit resets."""
    reset = next_reset(now, zone)
    cause = f"the daily {channel} limit of {limit} is reached; it resets at {reset.astimezone(zone).isoformat()}"
    return DeliveryOutcome.failure("DAILY_LIMIT_REACHED", cause, retry_after=max(0.0, (reset - now).total_seconds()))


def opted_out(reason: str | None) -> DeliveryOutcome:
    """The failure of a message whose recipient is on the workspace's suppression list; never sent."""
    cause = "the recipient is on the workspace's suppression list" + (f": {reason}" if reason else "")
    return DeliveryOutcome.failure("RECIPIENT_OPTED_OUT", cause)


def suppression_key(destination: str) -> str:
    """What a destination is matched by: email addresses case-insensitively, anything else exactly."""
    value = destination.strip()
    return value.lower() if _EMAIL_LIKE.match(value) else value


@dataclass(frozen=True, slots=True)
class LimitProblem:
    field: str
    message: str


def parse_daily_limits(raw: Any) -> tuple[dict[str, int | None], list[LimitProblem]]:
    """A `dailyLimits` object as the API takes it: every channel named, null = unlimited.

    A channel left out is unlimited, so a PUT replaces the whole set. Booleans and fractions are
    refused even though Python would take them for integers.
    """
    limits: dict[str, int | None] = {channel.value: None for channel in MessageType}
    if not isinstance(raw, Mapping):
        return limits, [LimitProblem("dailyLimits", "must be an object of channel: limit (null = unlimited)")]
    problems: list[LimitProblem] = []
    known = ", ".join(channel.value for channel in MessageType)
    for channel, value in raw.items():
        field = f"dailyLimits.{channel}"
        if channel not in limits:
            problems.append(LimitProblem(field, f"is not a channel; one of {known}"))
        elif value is None:
            limits[channel] = None
        elif isinstance(value, bool) or not isinstance(value, int):
            problems.append(LimitProblem(field, "must be a whole number of messages (0 or more), or null"))
        elif not 0 <= value <= MAX_DAILY_LIMIT:
            problems.append(LimitProblem(field, f"must be between 0 and {MAX_DAILY_LIMIT}, or null"))
        else:
            limits[channel] = value
    return limits, problems


def suppression_applies(entry_channel: str, message_channel: str) -> bool:
    """An entry for every channel stops every message to its destination; one for a channel, that channel's."""
    return entry_channel in (ALL_CHANNELS, message_channel)
