"""Where a FAILED message stands with retries (seed 003's "retry status" filter and its marker).

Automatic retries (the backoff, then the daily sweeps) are over for every FAILED message; what is
left is whether a sweep will still try it, whether it has exhausted them, whether retrying cannot
help, or whether someone already resent it by hand.
"""

from __future__ import annotations

from enum import StrEnum

from commlog.domain.failures import LIFTS_AFTER_WAIT, FailureCategory
from commlog.domain.retry import RetryPolicy


class RetryStatus(StrEnum):
    SWEEP_PENDING = "SWEEP_PENDING"
    EXHAUSTED = "EXHAUSTED"
    NOT_RETRYABLE = "NOT_RETRYABLE"
    RESENT = "RESENT"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    RetryStatus.SWEEP_PENDING: "Automatic retry scheduled",
    RetryStatus.EXHAUSTED: "Automatic retries exhausted",
    RetryStatus.NOT_RETRYABLE: "Not retried automatically",
    RetryStatus.RESENT: "Resent by hand",
}


def sweeps_left(policy: RetryPolicy, num_sweeps: int) -> bool:
    return policy.sweep_enabled and num_sweeps < policy.sweep_max_attempts


def retry_status(
    policy: RetryPolicy, category: str | None, num_sweeps: int, resent: bool, reason: str | None = None
) -> RetryStatus:
    if resent:
        return RetryStatus.RESENT
    if category != FailureCategory.RETRYABLE.value and reason not in LIFTS_AFTER_WAIT:
        return RetryStatus.NOT_RETRYABLE
    return RetryStatus.SWEEP_PENDING if sweeps_left(policy, num_sweeps) else RetryStatus.EXHAUSTED
