"""The Failed Messages page's queries (seed 003): summary counts and a filtered, keyset-paged list.

Only FAILED messages appear. The facets the page filters by (age, failure reason, category, retry
status) are columns of the message, and retry status follows the workspace's policy exactly as
`domain.retry_status.retry_status` classifies one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.failures import LIFTS_AFTER_WAIT, FailureCategory
from commlog.domain.retry import RetryPolicy
from commlog.domain.retry_status import RetryStatus
from commlog.domain.states import MessageState
from commlog.store.tables import messages

m = messages.c


@dataclass(frozen=True, slots=True)
class FailedFilter:
    """The filter bar: every part optional. Age is (newer than, older than) the given moments."""

    newer_than: datetime | None = None
    older_than: datetime | None = None
    reason: str | None = None
    category: FailureCategory | None = None
    #: None means every message nobody has resent yet, the page's default.
    retry_status: RetryStatus | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts of failures nobody has resent yet, by category, and of those already resent."""

    total: int
    by_category: dict[str, int]
    resent: int


def _status(status: RetryStatus | None, policy: RetryPolicy) -> ColumnElement[bool]:
    if status is RetryStatus.RESENT:
        return m.resent_at.is_not(None)
    open_ = m.resent_at.is_(None)
    if status is None:
        return open_
    # What the sweep retries: retryable failures, and those over a daily limit (queue.sweep).
    retryable = or_(
        m.failure_category == FailureCategory.RETRYABLE.value,
        func.coalesce(m.failure_reason, "").in_(sorted(LIFTS_AFTER_WAIT)),
    )
    if status is RetryStatus.NOT_RETRYABLE:
        return and_(open_, or_(m.failure_category.is_(None), not_(retryable)))
    sweeps_left = and_(true() if policy.sweep_enabled else false(), m.num_sweeps < policy.sweep_max_attempts)
    if status is RetryStatus.SWEEP_PENDING:
        return and_(open_, retryable, sweeps_left)
    return and_(open_, retryable, not_(sweeps_left))


def _where(workspace_id: str, chosen: FailedFilter, policy: RetryPolicy) -> list[ColumnElement[bool]]:
    clauses = [
        m.workspace_id == workspace_id,
        m.state == MessageState.FAILED.value,
        _status(chosen.retry_status, policy),
    ]
    if chosen.newer_than is not None:
        clauses.append(m.creation_date >= chosen.newer_than)
    if chosen.older_than is not None:
        clauses.append(m.creation_date < chosen.older_than)
    if chosen.reason is not None:
        clauses.append(m.failure_reason == chosen.reason)
    if chosen.category is not None:
        clauses.append(m.failure_category == chosen.category.value)
    return clauses


async def failed_summary(conn: AsyncConnection, workspace_id: str) -> Summary:
    rows = await conn.execute(
        select(m.failure_category, m.resent_at.is_(None), func.count())
        .where(m.workspace_id == workspace_id, m.state == MessageState.FAILED.value)
        .group_by(m.failure_category, m.resent_at.is_(None))
    )
    by_category = {category.value: 0 for category in FailureCategory}
    total = resent = 0
    for category, open_, count in rows:
        if not open_:
            resent += int(count)
            continue
        total += int(count)
        name = category or FailureCategory.NON_RETRYABLE.value
        by_category[name] = by_category.get(name, 0) + int(count)
    return Summary(total, by_category, resent)


@dataclass(frozen=True, slots=True)
class FailedPage:
    rows: list[Any]
    total: int
    #: (creation date, key) of the last row when more follow: the next page starts after it.
    after: tuple[datetime, str] | None


async def failed_messages(
    conn: AsyncConnection,
    workspace_id: str,
    chosen: FailedFilter,
    policy: RetryPolicy,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> FailedPage:
    """Newest first; `after` resumes behind the previous page's last row."""
    clauses = _where(workspace_id, chosen, policy)
    total = int((await conn.execute(select(func.count()).select_from(messages).where(*clauses))).scalar_one())
    if after is not None:
        moment, key = after
        clauses.append(and_(m.creation_date <= moment, or_(m.creation_date < moment, m.encoded_key < key)))
    query = select(messages).where(*clauses).order_by(m.creation_date.desc(), m.encoded_key.desc()).limit(limit + 1)
    rows = list(await conn.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return FailedPage(rows, total, (rows[-1].creation_date, rows[-1].encoded_key) if more else None)


#: The age filter's choices: label, and (newer than, older than) as distances back from now.
AGES: dict[str, tuple[str, timedelta | None, timedelta | None]] = {
    "1d": ("Last 24 hours", timedelta(days=1), None),
    "7d": ("Last 7 days", timedelta(days=7), None),
    "30d": ("Last 30 days", timedelta(days=30), None),
    "older": ("Older than 30 days", None, timedelta(days=30)),
}
