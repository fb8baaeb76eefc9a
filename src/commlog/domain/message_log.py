"""Seed 002's view of the log: four statuses and five channel names over commlog's states and types.

pending = QUEUED/WAITING/SENDING_ASYNC, sent = SENT, failed = FAILED, and reprocessing = a resend
(a message with a parent) that is not final yet (DESIGN.md, "States").
"""

from __future__ import annotations

from enum import StrEnum

from commlog.domain.states import PENDING_STATES, MessageState, MessageType


class LogStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    REPROCESSING = "reprocessing"


#: Seed 002's channel names; "callback" is a webhook, and "stream" (not in the seed) the event stream.
#: Seed 002's fifth type, "notification", is not a channel: it finds the messages fanned out from a
#: multi-channel notification (domain/fanout.py), whatever channel each went on.
LOG_TYPES: dict[str, MessageType] = {
    "email": MessageType.EMAIL,
    "push": MessageType.PUSH,
    "sms": MessageType.SMS,
    "callback": MessageType.WEB_HOOK,
    "stream": MessageType.EVENT_STREAM,
}
TYPE_NAMES: dict[MessageType, str] = {kind: name for name, kind in LOG_TYPES.items()}


def log_status(state: MessageState, is_resend: bool) -> LogStatus:
    if state is MessageState.SENT:
        return LogStatus.SENT
    if state is MessageState.FAILED:
        return LogStatus.FAILED
    return LogStatus.REPROCESSING if is_resend else LogStatus.PENDING


def status_states(status: LogStatus) -> tuple[frozenset[MessageState], bool | None]:
    """The states a status covers, and whether the message must (True) or must not (False) be a resend."""
    if status is LogStatus.SENT:
        return frozenset({MessageState.SENT}), None
    if status is LogStatus.FAILED:
        return frozenset({MessageState.FAILED}), None
    return PENDING_STATES, status is LogStatus.REPROCESSING
