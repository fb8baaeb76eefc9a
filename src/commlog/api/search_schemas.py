"""What searches answer, per dialect: Mambu's message, seed 002's log entry and result.

Only pydantic and the domain are imported, so the SDK reads answers with these same models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from commlog.api.schemas import MessageOut
from commlog.domain.message_log import TYPE_NAMES, LogStatus, log_status
from commlog.domain.states import MessageState, MessageType

Item = TypeVar("Item")


def mambu_date(value: datetime) -> str:
    """Seed 001's form: 2015-06-12T10:55:16+0000."""
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


MambuDate = Annotated[datetime, PlainSerializer(mambu_date, return_type=str)]


class V2Model(BaseModel):
    """Mambu API v2 bodies: an unknown field is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Criterion(V2Model):
    """One Mambu v2 filter criterion; also the filter of a native resend by filter."""

    field: str
    operator: str
    value: Any = None
    secondValue: Any = None
    values: list[Any] | None = None


class MambuMessage(BaseModel):
    """A message as Mambu API v1 and v2 show it; absent values are left out, as Mambu does."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    encoded_key: str
    creation_date: MambuDate
    send_date: MambuDate | None = None
    type: MessageType
    state: MessageState
    destination: str
    event: str | None = None
    subject: str | None = None
    body: str
    sender_key: str
    client_key: str | None = None
    group_key: str | None = None
    user_key: str | None = None
    template_key: str | None = None
    reference_id: str | None = None
    failure_reason: str | None = None
    failure_cause: str | None = None
    num_retries: int = 0

    @classmethod
    def from_row(cls, row: Any) -> MambuMessage:
        return cls.model_validate({name: getattr(row, name) for name in cls.model_fields})


class LogEntry(BaseModel):
    """Seed 002's INotificationMessageLogEntry; `_id` is the encoded key."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    workspace_id: str
    product_id: str | None = None
    product_tag: str | None = None
    env: str | None = None
    notification_tag: str | None = None
    input: dict[str, Any] | None = None
    status: LogStatus
    type: str
    process_id: str | None = None
    error: str | None = None
    retries: int = 0
    session: str | None = None
    cache: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: The multi-channel notification the message is part of (seed 002's `notification` type).
    notification_key: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> LogEntry:
        return cls(
            _id=row.encoded_key,
            workspace_id=row.workspace_id,
            product_id=row.product_id,
            product_tag=row.product_tag,
            env=row.env,
            notification_tag=row.notification_tag,
            input=row.input,
            status=log_status(MessageState(row.state), row.parent_key is not None),
            type=TYPE_NAMES[MessageType(row.type)],
            process_id=row.process_id,
            error=row.failure_cause or row.failure_reason,
            retries=row.num_retries,
            created_at=row.creation_date,
            updated_at=row.updated_at,
            notification_key=getattr(row, "notification_key", None),
        )


class Paged(BaseModel, Generic[Item]):
    """One page of a log (seed 002's result shape), with a cursor that resumes after the last item."""

    items: list[Item]
    total: int
    page: int
    limit: int
    hasMore: bool
    nextCursor: str | None = None

    @classmethod
    def of(cls, items: list[Item], page: int, limit: int, total: int, more: bool, next_cursor: str | None) -> Self:
        return cls(items=items, total=total, page=page, limit=limit, hasMore=more, nextCursor=next_cursor)


#: Seed 002's INotificationMessageLogResult.
LogResult = Paged[LogEntry]
#: A client's, group's or user's messages in the native shape.
RecipientLog = Paged[MessageOut]
