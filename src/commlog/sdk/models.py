"""What the SDK answers: the server's own response models, and the few shapes only the SDK has.

The answers are read with the models the API writes them with (one definition of each shape), so a
message, a log entry, a search result and a history mean exactly what the API documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

from commlog.api.notification_schemas import NotificationOut
from commlog.api.resend_schemas import HistoryOut, ResendOut
from commlog.api.schemas import AttemptOut, MessageOut
from commlog.api.search_schemas import LogEntry, LogResult, MambuMessage

#: A message with its delivery attempts (`GET /api/messages/{key}`).
Message = MessageOut
Attempt = AttemptOut
#: A message's whole chain: the original, its resends, every attempt in order.
History = HistoryOut
#: What a resend made: the original and new keys.
ResendResult = ResendOut
#: A search result in seed 001's (Mambu's) shape.
SearchMessage = MambuMessage
#: A multi-channel notification: its key and the message each channel became.
Notification = NotificationOut

__all__ = [
    "Attempt",
    "FilterConstraint",
    "History",
    "LogEntry",
    "Message",
    "MessageOptions",
    "MessagePage",
    "Notification",
    "ResendResult",
    "SearchMessage",
]

#: A moment for start_date/end_date: an ISO string, a datetime, or a date (the whole day).
Moment = str | datetime | date


class MessageOptions(TypedDict, total=False):
    """Seed 002's getMessages options; every one is optional."""

    product_tag: str
    product_id: str
    env: str
    notification_tag: str
    #: pending, sent, failed or reprocessing
    status: str
    #: email, push, sms, callback or notification
    type: str
    process_id: str
    start_date: Moment
    end_date: Moment
    page: int
    limit: int


def query_params(options: MessageOptions, cursor: str | None = None) -> dict[str, str]:
    """The options as query parameters; dates become ISO 8601 strings."""
    params = {}
    for name, value in options.items():
        if value is None:
            continue
        params[name] = value.isoformat() if isinstance(value, date) else str(value)
    if cursor is not None:
        params["cursor"] = cursor
    return params


@dataclass(frozen=True, slots=True)
class MessagePage:
    """Seed 002's INotificationMessageLogResult; `next_cursor` resumes after this page."""

    items: list[LogEntry]
    total: int
    page: int
    limit: int
    has_more: bool
    next_cursor: str | None = None

    @classmethod
    def read(cls, data: Any) -> MessagePage:
        result = LogResult.model_validate(data)
        return cls(result.items, result.total, result.page, result.limit, result.hasMore, result.nextCursor)


@dataclass(frozen=True, slots=True)
class FilterConstraint:
    """One of seed 001's filter constraints, e.g. `FilterConstraint("STATE", "EQUALS", "FAILED")`."""

    filter_selection: str
    filter_element: str
    value: Any = None
    second_value: Any = None
    #: For IN.
    values: list[Any] | None = None
    data_item_type: str | None = None
    data_field_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        fields = {
            "filterSelection": self.filter_selection,
            "filterElement": self.filter_element,
            "value": self.value,
            "secondValue": self.second_value,
            "values": self.values,
            "dataItemType": self.data_item_type,
            "dataFieldType": self.data_field_type,
        }
        return {name: value for name, value in fields.items() if value is not None}
