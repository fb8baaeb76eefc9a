"""The one retry policy engine: seed 000's exponential backoff and seed 003's slower daily sweep.

Pure decisions: given a policy, what happened and when, say what the message does next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from commlog.domain.failures import LIFTS_AFTER_WAIT, FailureCategory
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.states import MessageState, WaitingReason

#: A provider may ask for a long pause; we honour it up to a day, then fall back to our schedule.
MAX_HONOURED_RETRY_AFTER = 86400.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Seed 000's parameters; defaults retry after 2, 6, 18 and 54 seconds."""

    max_retries: int = 4
    back_off_delay: float = 2.0
    delay_factor: float = 3.0
    back_off_max_delay: float = 300.0
    #: Seed 003: a sweep retries FAILED retryable messages whose recommended wait has passed.
    sweep_enabled: bool = True
    sweep_interval: float = 86400.0
    sweep_max_attempts: int = 3

    def problems(self) -> list[tuple[str, str]]:
        """Every invalid parameter, named as in the API; a policy is only stored when this is empty."""
        found: list[tuple[str, str]] = []
        if self.max_retries < -1:
            found.append(("maxRetries", "must be -1 (forever) or at least 0"))
        if self.back_off_delay <= 0:
            found.append(("backOffDelay", "must be more than 0 seconds"))
        if self.delay_factor < 1:
            found.append(("delayFactor", "must be at least 1"))
        if self.back_off_max_delay < self.back_off_delay:
            found.append(("backOffMaxDelay", "must be at least backOffDelay"))
        if self.sweep_interval < 60:
            found.append(("sweepIntervalSeconds", "must be at least 60 seconds"))
        if self.sweep_max_attempts < 0:
            found.append(("sweepMaxAttempts", "must be at least 0"))
        return found

    def delay_before_retry(self, retry_number: int) -> float:
        """Seconds before automatic retry number `retry_number` (1-based)."""
        delay = self.back_off_delay * self.delay_factor ** (retry_number - 1)
        return min(delay, self.back_off_max_delay)

    def allows_retry(self, retries_done: int) -> bool:
        return self.max_retries == -1 or retries_done < self.max_retries


@dataclass(frozen=True, slots=True)
class NextStep:
    """Where a message goes after an attempt."""

    state: MessageState
    waiting_reason: WaitingReason | None
    next_attempt_at: datetime | None
    num_retries: int
    #: Earliest time a later retry (sweep or manual) can help, for FAILED messages.
    retry_not_before: datetime | None


def after_attempt(policy: RetryPolicy, outcome: DeliveryOutcome, retries_done: int, now: datetime) -> NextStep:
    """Decide the next state of a message whose attempt just ended with `outcome`."""
    if outcome.sent:
        return NextStep(MessageState.SENT, None, None, retries_done, None)
    wait = outcome.recommended_wait
    retry_not_before = now + timedelta(seconds=wait) if wait is not None else now
    if outcome.category is FailureCategory.RETRYABLE and policy.allows_retry(retries_done):
        delay = policy.delay_before_retry(retries_done + 1)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, MAX_HONOURED_RETRY_AFTER))
        return NextStep(
            MessageState.WAITING,
            WaitingReason.READY_TO_BE_SENT,
            now + timedelta(seconds=delay),
            retries_done + 1,
            None,
        )
    return NextStep(MessageState.FAILED, None, None, retries_done, retry_not_before)


def sweep_eligible(
    policy: RetryPolicy,
    category: FailureCategory | None,
    sweeps_done: int,
    retry_not_before: datetime | None,
    now: datetime,
    reason: str | None = None,
) -> bool:
    """Whether the daily sweep retries this FAILED message now (a limit's reset is a wait like any)."""
    return (
        policy.sweep_enabled
        and (category is FailureCategory.RETRYABLE or reason in LIFTS_AFTER_WAIT)
        and sweeps_done < policy.sweep_max_attempts
        and (retry_not_before is None or retry_not_before <= now)
    )
