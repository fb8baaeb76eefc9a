"""The submit and answer bodies of a multi-channel notification (seed 002's `notification` type)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from commlog.api.schemas import CamelModel, Date, MessageContext, MessageOut
from commlog.domain.fanout import MAX_CHANNELS
from commlog.domain.states import MessageType

#: Shorter than a message's, so the `:<index>` each channel's message gets still fits the column.
NotificationIdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class ChannelDeliveryIn(CamelModel):
    """One channel of a notification: where to, and any content of its own."""

    type: MessageType
    destination: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    subject: Annotated[str, StringConstraints(max_length=998)] | None = None
    body: str | None = None
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], str] | None = None


class NotificationIn(MessageContext):
    """A notification sent on several channels: one message per channel, all linked to it.

    `subject`, `body` and `headers` here are the defaults a channel that gives none of its own takes;
    the other fields (recipient keys, product, env, tag, input) go to every message alike.
    """

    type: Literal["NOTIFICATION"]
    channels: list[ChannelDeliveryIn] = Field(min_length=1, max_length=MAX_CHANNELS)
    subject: Annotated[str, StringConstraints(max_length=998)] | None = None
    body: str | None = None
    headers: dict[Annotated[str, StringConstraints(min_length=1, max_length=200)], str] | None = None
    idempotency_key: NotificationIdempotencyKey | None = None


class NotificationOut(CamelModel):
    notification_key: str
    type: Literal["NOTIFICATION"] = "NOTIFICATION"
    idempotency_key: str | None
    creation_date: Date
    #: The messages it fanned out into, in the order of `channels`.
    message_keys: list[str]
    messages: list[MessageOut]
