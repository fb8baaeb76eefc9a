"""Circuit breaker rules per destination: a dead or slow destination is paused, probed, and resumed.

Pure rules on a clock reading; the worker keeps one `Circuit` per destination (per process).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from urllib.parse import urlsplit

from commlog.domain.failures import FailureCategory
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.states import MessageType


class CircuitState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass(frozen=True, slots=True)
class CircuitRules:
    #: Consecutive destination failures that open the circuit.
    failures_to_open: int = 5
    #: Seconds an open circuit waits before one probe is let through.
    cool_down: float = 30.0


@lru_cache(maxsize=4096)
def destination_of(message_type: str, destination: str, workspace_id: str) -> str:
    """The destination a circuit guards: a webhook's host and port; for other channels the
    workspace's provider (its SMTP server or SMS gateway), since that is where they all go; for a
    stream notification, its subscriber. Cached: the worker asks it a few times per delivery, and
    most deliveries go to a few destinations."""
    if message_type == MessageType.WEB_HOOK:
        try:
            parts = urlsplit(destination)
            return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        except ValueError:
            return destination
    if message_type == MessageType.EVENT_STREAM:
        return f"{message_type}:{destination}@{workspace_id}"  # each subscriber acknowledges on its own
    return f"{message_type}@{workspace_id}"


def counts_against_destination(outcome: DeliveryOutcome) -> bool:
    """A retryable failure (timeout, refused connection, 5xx) says the destination is unwell; a
    refusal with a reason (4xx) means it answered, which counts as healthy."""
    return not outcome.sent and outcome.category is FailureCategory.RETRYABLE


@dataclass(slots=True)
class Circuit:
    rules: CircuitRules
    state: CircuitState = CircuitState.CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    probe_in_flight: bool = False

    def admit(self, now: datetime) -> bool:
        """Whether one more delivery may go to this destination now; a granted half-open admit is the probe."""
        if self.state is CircuitState.CLOSED:
            return True
        if self.state is CircuitState.OPEN and self.opened_at is not None:
            if now < self.opened_at + timedelta(seconds=self.rules.cool_down):
                return False
            self.state = CircuitState.HALF_OPEN
        if self.probe_in_flight:
            return False
        self.probe_in_flight = True
        return True

    def reopens_at(self, now: datetime) -> datetime:
        """When a refused message should come back: after the cool-down, or soon when a probe is out."""
        if self.state is CircuitState.OPEN and self.opened_at is not None:
            return self.opened_at + timedelta(seconds=self.rules.cool_down)
        return now + timedelta(seconds=min(1.0, self.rules.cool_down))

    def record(self, failed: bool, now: datetime) -> None:
        """An attempt's result: a success closes the circuit, enough failures (or a failed probe) open it."""
        probing = self.state is CircuitState.HALF_OPEN
        self.probe_in_flight = False
        if not failed:
            self.state = CircuitState.CLOSED
            self.consecutive_failures = 0
            self.opened_at = None
            return
        self.consecutive_failures += 1
        # Late results of deliveries started before the circuit opened do not extend its cool-down.
        closed_and_enough = (
            self.state is CircuitState.CLOSED and self.consecutive_failures >= self.rules.failures_to_open
        )
        if probing or closed_and_enough:
            self.state = CircuitState.OPEN
            self.opened_at = now
