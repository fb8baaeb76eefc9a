"""Bodies of the native resend, history and statistics routes (camelCase on the wire)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field, model_validator

from commlog.api.schemas import AttemptOut, CamelModel, Date
from commlog.api.search_schemas import Criterion
from commlog.domain.resend import MAX_IDENTIFIERS
from commlog.store.history import History, HistoryEvent
from commlog.store.resend import MAX_BULK, BulkResend, Resent
from commlog.store.stats import AUTOMATIC_TRIGGERS, MANUAL_TRIGGERS, AttemptCounts, RetryStatistics


class ResendIn(CamelModel):
    """Resend named messages, or every FAILED message a filter matches (dry run: only count them)."""

    encoded_keys: list[str] | None = Field(None, description=f"at most {MAX_IDENTIFIERS} encoded keys")
    filter: list[Criterion] | None = Field(
        None, description="Mambu v2 search criteria (field, operator, value, secondValue, values), all must match"
    )
    dry_run: bool = False
    limit: int = Field(MAX_BULK, ge=1, le=MAX_BULK, description="resend at most this many matching messages")

    @model_validator(mode="after")
    def _one_selection(self) -> ResendIn:
        if (self.encoded_keys is None) == (self.filter is None):
            raise ValueError("give exactly one of encodedKeys and filter")
        return self


class ResentOut(CamelModel):
    original_key: str
    encoded_key: str

    @classmethod
    def of(cls, resent: Resent) -> ResentOut:
        return cls(original_key=resent.original_key, encoded_key=resent.new_key)


class ResendOut(CamelModel):
    dry_run: bool
    #: How many resendable messages the request matched; more than `count` when a limit cut it.
    matched: int
    count: int
    resent: list[ResentOut]

    @classmethod
    def of_keys(cls, resent: list[Resent]) -> ResendOut:
        return cls(dry_run=False, matched=len(resent), count=len(resent), resent=[ResentOut.of(r) for r in resent])

    @classmethod
    def of_bulk(cls, bulk: BulkResend) -> ResendOut:
        resent = [ResentOut.of(r) for r in bulk.resent]
        return cls(dry_run=bulk.dry_run, matched=bulk.matched, count=len(resent), resent=resent)


class ChainMessageOut(CamelModel):
    encoded_key: str
    parent_key: str | None
    origin: str
    state: str
    sender_key: str
    creation_date: Date
    send_date: Date | None
    resent_date: Date | None
    resent_by: str | None

    @classmethod
    def from_row(cls, row: Any) -> ChainMessageOut:
        data = dict(row._mapping)
        return cls(**{k: data[k] for k in cls.model_fields if k in data}, resent_date=data["resent_at"])


class HistoryEventOut(CamelModel):
    date: Date
    kind: str = Field(description="ATTEMPT, or SENT_AGAIN when a resend or reprocess made a new message")
    message_key: str
    trigger: str
    triggered_by: str
    outcome: str = Field(description="SENT or FAILED for an attempt; CREATED for a new message")
    new_message_key: str | None = Field(description="for SENT_AGAIN: the message it made")
    attempt: AttemptOut | None = Field(description="for ATTEMPT: status code, provider reply, failure, duration")

    @classmethod
    def of(cls, e: HistoryEvent) -> HistoryEventOut:
        return cls(
            date=e.at,
            kind=e.kind,
            message_key=e.message_key,
            trigger=e.trigger,
            triggered_by=e.triggered_by,
            outcome=e.outcome,
            new_message_key=e.new_message_key,
            attempt=None if e.attempt is None else AttemptOut.from_row(e.attempt),
        )


class HistoryOut(CamelModel):
    encoded_key: str
    root_key: str
    messages: list[ChainMessageOut]
    timeline: list[HistoryEventOut]

    @classmethod
    def of(cls, h: History) -> HistoryOut:
        return cls(
            encoded_key=h.key,
            root_key=h.root_key,
            messages=[ChainMessageOut.from_row(m) for m in h.messages],
            timeline=[HistoryEventOut.of(e) for e in h.events],
        )


class RateOut(CamelModel):
    attempts: int
    sent: int
    success_rate: float | None

    @classmethod
    def of(cls, counts: AttemptCounts) -> RateOut:
        return cls(attempts=counts.attempts, sent=counts.sent, success_rate=counts.success_rate)


class RecoveryOut(CamelModel):
    failed_at_least_once: int
    eventually_sent: int
    sent_by_automatic_retry: int
    sent_by_manual_retry: int
    success_rate: float | None
    automatic_success_rate: float | None
    manual_success_rate: float | None


class DayOut(CamelModel):
    date: date
    sent: int
    failed: int
    retried: int


class RetryStatisticsOut(CamelModel):
    start: Date
    end: Date
    by_state: dict[str, int]
    by_type: dict[str, int]
    by_failure_reason: dict[str, int]
    by_failure_category: dict[str, int]
    recovery: RecoveryOut
    automatic_retries: RateOut
    manual_retries: RateOut
    attempts_by_trigger: dict[str, RateOut]
    daily: list[DayOut]

    @classmethod
    def of(cls, s: RetryStatistics) -> RetryStatisticsOut:
        r = s.recovery
        recovered = r.sent_by_automatic_retry + r.sent_by_manual_retry
        return cls(
            start=s.start,
            end=s.end,
            by_state=s.by_state,
            by_type=s.by_type,
            by_failure_reason=s.by_failure_reason,
            by_failure_category=s.by_failure_category,
            recovery=RecoveryOut(
                failed_at_least_once=r.failed_at_least_once,
                eventually_sent=recovered,
                sent_by_automatic_retry=r.sent_by_automatic_retry,
                sent_by_manual_retry=r.sent_by_manual_retry,
                success_rate=r.rate(recovered),
                automatic_success_rate=r.rate(r.sent_by_automatic_retry),
                manual_success_rate=r.rate(r.sent_by_manual_retry),
            ),
            automatic_retries=RateOut.of(s.attempts_of(AUTOMATIC_TRIGGERS)),
            manual_retries=RateOut.of(s.attempts_of(MANUAL_TRIGGERS)),
            attempts_by_trigger={t: RateOut.of(c) for t, c in s.by_trigger.items()},
            daily=[DayOut(date=d.day, sent=d.sent, failed=d.failed, retried=d.retried) for d in s.daily],
        )
