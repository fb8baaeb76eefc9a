"""Retention (issue 9): how long a workspace keeps its messages, and which messages have outlived it."""

from __future__ import annotations

from datetime import datetime, timedelta

#: A hundred years: anything longer is a typo, and `null` already means "keep forever".
MAX_RETENTION_DAYS = 36_500


def retention_problem(days: object) -> str | None:
    """Why `days` is not a retention period, or None; None itself (keep forever) is one."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int):
        return "must be a whole number of days, or null to keep messages forever"
    if not 1 <= days <= MAX_RETENTION_DAYS:
        return f"must be from 1 to {MAX_RETENTION_DAYS} days, or null to keep messages forever"
    return None


def purge_cutoff(now: datetime, days: int) -> datetime:
    """Messages created before this instant have outlived a retention of `days`."""
    return now - timedelta(days=days)
