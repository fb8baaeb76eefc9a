"""Request and response bodies of the native API (camelCase on the wire, as Mambu's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from commlog.domain.states import MessageState, MessageType, Trigger, WaitingReason


def format_date(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds")


Date = Annotated[datetime, PlainSerializer(format_date, return_type=str)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _no_line_breaks(value: str | None, what: str) -> str | None:
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError(f"{what} must not contain line breaks")
    return value


class MessageContext(CamelModel):
    """What a submit says beside the content: event, recipients, sender, product and the input;
    a multi-channel notification gives these to every message it fans out into."""

    event: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    client_key: Tag | None = None
    group_key: Tag | None = None
    user_key: Tag | None = None
    sender_key: Tag | None = None
    template_key: Tag | None = None
    reference_id: ShortText | None = None
    product_tag: ShortText | None = None
    product_id: ShortText | None = None
    env: Tag | None = None
    notification_tag: ShortText | None = None
    process_id: ShortText | None = None
    input: dict[str, Any] | None = None


class MessageIn(MessageContext):
    """One notification to log and deliver; its content is final as given (rendered once)."""

    type: MessageType
    destination: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    body: str
    subject: Annotated[str, StringConstraints(max_length=998)] | None = None
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], str] | None = None
    idempotency_key: IdempotencyKey | None = None

    @field_validator("destination", "subject")
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        return _no_line_breaks(value, "the value")

    @field_validator("headers")
    @classmethod
    def _header_values(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, text in (value or {}).items():
            _no_line_breaks(name, f"header name {name!r}")
            _no_line_breaks(text, f"header {name!r}")
        return value


class BatchIn(CamelModel):
    messages: list[MessageIn] = Field(min_length=1)


class AttemptOut(CamelModel):
    number: int
    trigger: Trigger
    triggered_by: str
    started_at: Date
    duration_ms: float
    outcome: str
    status_code: int | None
    provider_reply: str | None
    response_excerpt: str | None
    provider_message_id: str | None
    failure_reason: str | None
    failure_category: str | None
    failure_cause: str | None

    @classmethod
    def from_row(cls, row: Any) -> AttemptOut:
        return cls(
            number=row.number,
            trigger=row.trigger,
            triggered_by=row.triggered_by,
            started_at=row.started_at,
            duration_ms=round(row.duration_ms, 3),
            outcome="SENT" if row.sent else "FAILED",
            status_code=row.status_code,
            provider_reply=row.provider_reply,
            response_excerpt=row.response_excerpt,
            provider_message_id=row.provider_message_id,
            failure_reason=row.failure_reason,
            failure_category=row.failure_category,
            failure_cause=row.failure_cause,
        )


class MessageOut(CamelModel):
    encoded_key: str
    workspace_id: str
    type: MessageType
    state: MessageState
    waiting_reason: WaitingReason | None
    destination: str
    subject: str | None
    body: str
    headers: dict[str, str] | None
    event: str | None
    client_key: str | None
    group_key: str | None
    user_key: str | None
    sender_key: str
    template_key: str | None
    reference_id: str | None
    failure_reason: str | None
    failure_cause: str | None
    failure_category: str | None
    num_retries: int
    num_sweeps: int
    creation_date: Date
    send_date: Date | None
    last_updated_date: Date
    next_attempt_date: Date | None
    #: For a FAILED message: the earliest moment a retry can help (a provider's wait, a limit's reset).
    retry_not_before: Date | None
    product_tag: str | None
    product_id: str | None
    env: str | None
    notification_tag: str | None
    process_id: str | None
    input: dict[str, Any] | None
    parent_key: str | None
    resent_date: Date | None
    resent_by: str | None
    idempotency_key: str | None
    #: The multi-channel notification this message was fanned out from, if any.
    notification_key: str | None = None
    attempts: list[AttemptOut] | None = None

    @classmethod
    def from_row(cls, row: Any, attempts: list[Any] | None = None) -> MessageOut:
        data = row._mapping
        return cls(
            **{k: data[k] for k in _COPIED},
            notification_key=data.get("notification_key"),
            last_updated_date=data["updated_at"],
            next_attempt_date=data["next_attempt_at"],
            resent_date=data["resent_at"],
            attempts=None if attempts is None else [AttemptOut.from_row(a) for a in attempts],
        )


_COPIED = tuple(
    name
    for name in MessageOut.model_fields
    if name not in ("last_updated_date", "next_attempt_date", "resent_date", "attempts", "notification_key")
)


class BatchOut(CamelModel):
    messages: list[MessageOut]


class AcceptedOut(CamelModel):
    """What a batch submit answers under `Prefer: return=minimal`: enough to follow each message."""

    encoded_key: str
    state: MessageState
    idempotency_key: str | None
    #: True when an earlier submit with the same idempotency key is answered instead.
    replayed: bool


class BatchAcceptedOut(CamelModel):
    messages: list[AcceptedOut]


class WorkspaceSettingsIn(CamelModel):
    time_zone: str = Field(
        description="an IANA time zone (e.g. Europe/Lisbon): the days of TODAY, THIS_WEEK, LAST_DAYS, "
        "the statistics and the daily limits"
    )


class WorkspaceSettings(WorkspaceSettingsIn):
    name: str


class WebhookSettings(CamelModel):
    signing_secret: str = Field(description="whsec_ followed by the base64 of 24 to 64 random bytes")


class RetryPolicyBody(CamelModel):
    """Seed 000's parameters and seed 003's sweep; an omitted field takes its default."""

    max_retries: int | None = Field(None, description="retries after a retryable failure; -1 = forever")
    back_off_delay: float | None = Field(None, description="seconds before the first retry")
    delay_factor: float | None = Field(None, description="each retry waits this many times longer")
    back_off_max_delay: float | None = Field(None, description="the longest wait between retries, seconds")
    sweep_enabled: bool | None = Field(None, description="whether the slow sweep retries FAILED messages")
    sweep_interval_seconds: float | None = Field(None, description="seconds between sweeps (a day)")
    sweep_max_attempts: int | None = Field(None, description="sweeps per message, at most")
