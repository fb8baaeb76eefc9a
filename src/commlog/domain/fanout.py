"""Multi-channel notifications (seed 002's `notification` type): one message per channel.

A notification is not delivered itself; it fans out into one ordinary message per channel, each
logged, delivered and retried on its own and all sharing the notification's key. Nothing here
touches the store: these are the rules the API applies before anything is written.
"""

from __future__ import annotations

#: The submit `type` that asks for a fan-out rather than one message.
NOTIFICATION = "NOTIFICATION"
#: Seed 002's log type name for the messages of a multi-channel notification.
NOTIFICATION_LOG_TYPE = "notification"
#: Channels one notification may fan out to: enough for every channel twice over, not a batch API.
MAX_CHANNELS = 20

#: Fields a notification gives all its messages alike (the store's column names).
SHARED_FIELDS = (
    "event",
    "client_key",
    "group_key",
    "user_key",
    "sender_key",
    "template_key",
    "reference_id",
    "product_tag",
    "product_id",
    "env",
    "notification_tag",
    "process_id",
    "input",
)
#: Content a channel may give itself; where it does not, the notification's own applies.
CONTENT_FIELDS = ("subject", "body", "headers")


def child_idempotency_key(key: str | None, index: int) -> str | None:
    """Channel `index` of a notification submitted with `key`, as a batch item's key is derived."""
    return None if key is None else f"{key}:{index}"
