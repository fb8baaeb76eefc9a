"""The rules of sending a message again (seed 000's resend, seed 002's reprocess), as pure checks.

A message is sent again at most once: the resend (or reprocess) is a new message linked to it, and
the original keeps its state and history. To try once more after the resend failed too, resend
the resend: the chain grows by one message each time, and every link names who asked. This is
also what makes two simultaneous resends of one message produce one new message, not two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from commlog.domain.keys import is_key
from commlog.domain.states import MessageState

#: Most identifiers one resend request may name (seed 001 allows bulk resends; we bound them).
MAX_IDENTIFIERS = 1000


def identifier_problems(identifiers: Sequence[str], field: str = "identifiers") -> list[tuple[str, str]]:
    """Every problem of a list of encoded keys, as (field path, message); empty when it may be used."""
    if not identifiers:
        return [(field, "must name at least one encoded key")]
    if len(identifiers) > MAX_IDENTIFIERS:
        return [(field, f"has {len(identifiers)} encoded keys; at most {MAX_IDENTIFIERS} are allowed")]
    problems: list[tuple[str, str]] = []
    first_seen: dict[str, int] = {}
    for index, key in enumerate(identifiers):
        if not is_key(key):
            problems.append((f"{field}[{index}]", f"{key!r} is not an encoded key (32 lowercase hex characters)"))
        elif key in first_seen:
            problems.append((f"{field}[{index}]", f"{key!r} is a duplicate of {field}[{first_seen[key]}]"))
        else:
            first_seen[key] = index
    return problems


class Refusal(StrEnum):
    """Why one named message cannot be sent again."""

    NOT_FOUND = "NOT_FOUND"
    NOT_FAILED = "NOT_FAILED"
    NOT_FINAL = "NOT_FINAL"
    ALREADY_RESENT = "ALREADY_RESENT"
    NOT_RENDERABLE = "NOT_RENDERABLE"


@dataclass(frozen=True, slots=True)
class RefusedMessage:
    key: str
    refusal: Refusal
    message: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the rules need to know about a message someone wants to send again."""

    key: str
    state: MessageState
    resent_at: datetime | None
    resent_by: str | None
    resent_as: str | None


def resend_refusal(candidate: Candidate | None, key: str) -> RefusedMessage | None:
    """Why `key` cannot be resent (seed 000: only FAILED messages, and each only once)."""
    if candidate is None:
        return RefusedMessage(key, Refusal.NOT_FOUND, f"no message with encoded key {key!r} in this workspace")
    if candidate.state is not MessageState.FAILED:
        return RefusedMessage(
            key, Refusal.NOT_FAILED, f"message {key!r} is {candidate.state}; only FAILED messages can be resent"
        )
    return _already_sent_again(candidate)


def reprocess_refusal(candidate: Candidate | None, key: str) -> RefusedMessage | None:
    """Why `key` cannot be reprocessed: it must be final (SENT or FAILED) and not sent again yet."""
    if candidate is None:
        return RefusedMessage(key, Refusal.NOT_FOUND, f"no message with encoded key {key!r} in this workspace")
    if candidate.state not in (MessageState.FAILED, MessageState.SENT):
        return RefusedMessage(
            key,
            Refusal.NOT_FINAL,
            f"message {key!r} is {candidate.state}; it can be reprocessed once it is SENT or FAILED",
        )
    return _already_sent_again(candidate)


def not_renderable(key: str, problem: str) -> RefusedMessage:
    """A reprocess whose stored input cannot produce a message."""
    return RefusedMessage(key, Refusal.NOT_RENDERABLE, f"message {key!r} cannot be rendered from its input: {problem}")


def _already_sent_again(candidate: Candidate) -> RefusedMessage | None:
    if candidate.resent_at is None:
        return None
    by = f" by {candidate.resent_by}" if candidate.resent_by else ""
    newer = f"; resend {candidate.resent_as!r} instead" if candidate.resent_as else ""
    return RefusedMessage(
        candidate.key,
        Refusal.ALREADY_RESENT,
        f"message {candidate.key!r} was already sent again at {candidate.resent_at.isoformat()}{by}{newer}",
    )
