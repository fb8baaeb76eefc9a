"""Message types and the states a message moves through (seed 000), and seed 002's view of them."""

from __future__ import annotations

from enum import StrEnum


class MessageType(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEB_HOOK = "WEB_HOOK"
    EVENT_STREAM = "EVENT_STREAM"
    PUSH = "PUSH"


class MessageState(StrEnum):
    QUEUED = "QUEUED"
    SENDING_ASYNC = "SENDING_ASYNC"
    WAITING = "WAITING"
    SENT = "SENT"
    FAILED = "FAILED"


class WaitingReason(StrEnum):
    """Why a WAITING message waits (Mambu's names)."""

    READY_TO_BE_SENT = "READY_TO_BE_SENT"
    WAIT_FOR_CLOSE_CIRCUIT = "WAIT_FOR_CLOSE_CIRCUIT"
    SENDING = "SENDING"


#: States in which a message still expects a delivery attempt; only these have a next attempt date.
PENDING_STATES: frozenset[MessageState] = frozenset(
    {MessageState.QUEUED, MessageState.WAITING, MessageState.SENDING_ASYNC}
)
FINAL_STATES: frozenset[MessageState] = frozenset({MessageState.SENT, MessageState.FAILED})


class Trigger(StrEnum):
    """What caused a delivery attempt; the retry history shows it."""

    FIRST_SEND = "FIRST_SEND"
    AUTOMATIC_RETRY = "AUTOMATIC_RETRY"
    DAILY_SWEEP = "DAILY_SWEEP"
    MANUAL_RESEND = "MANUAL_RESEND"
    REPROCESS = "REPROCESS"


#: The sender recorded for everything commlog does on its own (Mambu shows "Mambu").
SYSTEM_SENDER = "SYSTEM"
