"""Pure domain rules: the retry policy, HTTP classification, Retry-After, destinations, catalogue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commlog.domain.destinations import destination_problem
from commlog.domain.failures import CATALOGUE, FailureCategory, describe
from commlog.domain.http_outcomes import classify_http_status, parse_retry_after
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.retry import RetryPolicy, after_attempt, sweep_eligible
from commlog.domain.states import MessageState, MessageType

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_default_policy_waits_2_6_18_54_then_stops() -> None:
    policy = RetryPolicy()
    assert [policy.delay_before_retry(n) for n in range(1, 5)] == [2, 6, 18, 54]
    assert [policy.allows_retry(done) for done in range(6)] == [True, True, True, True, False, False]


def test_delay_is_capped_and_minus_one_retries_forever() -> None:
    policy = RetryPolicy(max_retries=-1, back_off_delay=10, delay_factor=10, back_off_max_delay=500)
    assert [policy.delay_before_retry(n) for n in (1, 2, 3, 9)] == [10, 100, 500, 500]
    assert policy.allows_retry(10_000)


def test_only_retryable_failures_are_retried() -> None:
    policy = RetryPolicy()
    retryable = DeliveryOutcome.failure("SERVER_ERROR", "HTTP 500")
    permanent = DeliveryOutcome.failure("ENDPOINT_GONE", "HTTP 410")
    limited = DeliveryOutcome.failure("DAILY_LIMIT_REACHED", "limit")
    step = after_attempt(policy, retryable, 0, NOW)
    assert (step.state, step.next_attempt_at, step.num_retries) == (
        MessageState.WAITING,
        NOW + timedelta(seconds=2),
        1,
    )
    assert after_attempt(policy, permanent, 0, NOW).state is MessageState.FAILED
    assert after_attempt(policy, limited, 0, NOW).state is MessageState.FAILED
    exhausted = after_attempt(policy, retryable, 4, NOW)
    assert exhausted.state is MessageState.FAILED
    assert exhausted.retry_not_before == NOW + timedelta(seconds=60)


def test_retry_after_wins_over_a_shorter_backoff_but_not_a_longer_one() -> None:
    policy = RetryPolicy()
    asked = DeliveryOutcome.failure("RATE_LIMITED", "HTTP 429", retry_after=30)
    assert after_attempt(policy, asked, 0, NOW).next_attempt_at == NOW + timedelta(seconds=30)
    short = DeliveryOutcome.failure("RATE_LIMITED", "HTTP 429", retry_after=1)
    assert after_attempt(policy, short, 3, NOW).next_attempt_at == NOW + timedelta(seconds=54)
    huge = DeliveryOutcome.failure("RATE_LIMITED", "HTTP 429", retry_after=10**9)
    assert after_attempt(policy, huge, 0, NOW).next_attempt_at == NOW + timedelta(days=1)


def test_success_is_final() -> None:
    step = after_attempt(RetryPolicy(), DeliveryOutcome(sent=True, status_code=200), 2, NOW)
    assert (step.state, step.next_attempt_at, step.num_retries) == (MessageState.SENT, None, 2)


def test_sweep_eligibility() -> None:
    policy = RetryPolicy()
    retryable = FailureCategory.RETRYABLE
    assert sweep_eligible(policy, retryable, 0, None, NOW)
    assert sweep_eligible(policy, retryable, 2, NOW, NOW)
    assert not sweep_eligible(policy, retryable, 3, None, NOW)
    assert not sweep_eligible(policy, retryable, 0, NOW + timedelta(seconds=1), NOW)
    assert not sweep_eligible(policy, FailureCategory.NON_RETRYABLE, 0, None, NOW)
    assert not sweep_eligible(RetryPolicy(sweep_enabled=False), retryable, 0, None, NOW)


def test_policy_problems_name_the_fields() -> None:
    assert RetryPolicy().problems() == []
    bad = RetryPolicy(max_retries=-5, back_off_delay=0, delay_factor=0.1, back_off_max_delay=-1)
    assert {field for field, _ in bad.problems()} == {"maxRetries", "backOffDelay", "delayFactor", "backOffMaxDelay"}


@pytest.mark.parametrize(
    ("status", "sent", "reason"),
    [
        (200, True, None),
        (204, True, None),
        (301, False, "INVALID_HTTP_RESPONSE"),
        (400, False, "INVALID_HTTP_RESPONSE"),
        (408, False, "REQUEST_TIMEOUT"),
        (410, False, "ENDPOINT_GONE"),
        (429, False, "RATE_LIMITED"),
        (500, False, "SERVER_ERROR"),
        (503, False, "SERVER_ERROR"),
    ],
)
def test_http_status_classification(status: int, sent: bool, reason: str | None) -> None:
    outcome = classify_http_status(status, "x" * 2000, 5.0)
    assert (outcome.sent, outcome.failure_reason) == (sent, reason)
    assert outcome.response_excerpt is not None and len(outcome.response_excerpt) == 500
    assert outcome.retry_after == (5.0 if reason in ("RATE_LIMITED", "SERVER_ERROR") else None)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Mon, 05 Jan 2026 12:01:00 GMT", NOW) == 60
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_every_catalogue_entry_explains_itself() -> None:
    for info in CATALOGUE.values():
        assert info.explanation and info.action
    assert describe("NO_SUCH_REASON").reason == "OTHER"
    for reason in (
        "INVALID_HTTP_RESPONSE",
        "HTTP_ERROR_WHILE_SENDING",
        "BLACKLISTED_URL",
        "MAX_MESSAGE_SIZE_LIMIT_EXCEEDED",
        "INVALID_SMTP_CREDENTIALS",
        "SMS_GATEWAY_ERROR",
        "RATE_LIMITED",
        "DAILY_LIMIT_REACHED",
    ):
        assert reason in CATALOGUE
    assert describe("DAILY_LIMIT_REACHED").category is FailureCategory.BUSINESS_LOGIC


@pytest.mark.parametrize(
    ("kind", "destination", "ok"),
    [
        (MessageType.WEB_HOOK, "https://example.com/h?x=1", True),
        (MessageType.WEB_HOOK, "http://127.0.0.1:8080/h", True),
        (MessageType.WEB_HOOK, "ftp://example.com", False),
        (MessageType.WEB_HOOK, "https://example.com:99999/", False),
        (MessageType.EMAIL, "ana@example.com", True),
        (MessageType.EMAIL, "ana@", False),
        (MessageType.SMS, "+40722000111", True),
        (MessageType.SMS, "0722000111", False),
        (MessageType.SMS, "+0722000111", False),
        (MessageType.SMS, "+4072200011122334", False),
        (MessageType.PUSH, "fGcm:APA91bH-token_1", True),
        (MessageType.PUSH, "has space token", False),
        (MessageType.EVENT_STREAM, "orders-service", True),
        (MessageType.EVENT_STREAM, "no/slashes", False),
    ],
)
def test_destinations(kind: MessageType, destination: str, ok: bool) -> None:
    assert (destination_problem(kind, destination) is None) == ok
