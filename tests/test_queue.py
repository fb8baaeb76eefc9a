"""The queue's lease: a worker whose lease ran out cannot overwrite the result of the worker after it."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import FakeClock
from commlog.domain.outcome import DeliveryOutcome
from commlog.domain.retry import RetryPolicy, after_attempt
from commlog.domain.states import Trigger
from commlog.store import limits, queue, suppressions
from commlog.store.messages import get_attempts, get_message, insert_messages, new_message_row
from commlog.store.tables import attempts, events
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace


def result(row: object, outcome: DeliveryOutcome, clock: FakeClock) -> queue.AttemptResult:
    return queue.AttemptResult(
        message_key=row.encoded_key,  # type: ignore[attr-defined]
        lease_token=row.lease_token,  # type: ignore[attr-defined]
        number=row.attempt_count,  # type: ignore[attr-defined]
        trigger=Trigger.FIRST_SEND.value,
        triggered_by="SYSTEM",
        started_at=clock.now,
        duration_ms=1.0,
        outcome=outcome,
        next_step=after_attempt(RetryPolicy(), outcome, 0, clock.now),
        finished_at=clock.now,
    )


async def test_a_late_result_from_an_expired_lease_does_not_overwrite_the_next_one(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    row = new_message_row(
        workspace.id, {"type": "WEB_HOOK", "destination": "http://127.0.0.1:9/", "body": "{}"}, clock.now
    )
    async with engine.begin() as conn:
        await insert_messages(conn, [row])
        [first] = await queue.claim(conn, "lease-a", 10, clock.now, lease_seconds=30)
    clock.advance(31)  # worker A stalls past its lease; worker B takes the message and delivers it
    async with engine.begin() as conn:
        [second] = await queue.claim(conn, "lease-b", 10, clock.now, lease_seconds=30)
        await queue.record(conn, [result(second, DeliveryOutcome(sent=True, status_code=200), clock)])
    clock.advance(1)
    async with engine.begin() as conn:  # worker A wakes up with a failure to report
        await queue.record(conn, [result(first, DeliveryOutcome.failure("TIMEOUT", "late"), clock)])

    async with engine.connect() as conn:
        message = await get_message(conn, workspace.id, row["encoded_key"])
        history = await get_attempts(conn, row["encoded_key"])
    assert message.state == "SENT"
    assert message.failure_reason is None
    assert message.lease_token is None
    assert [(a.number, a.sent, a.failure_reason) for a in history] == [(1, False, "TIMEOUT"), (2, True, None)]


async def test_a_claim_flags_the_messages_whose_workspace_keeps_a_list_or_a_limit_on_their_channel(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    """The gates look no further than these flags: a wrong False would send to an opted-out recipient."""
    listing = await ensure_workspace(engine, "listing", clock.now)
    limiting = await ensure_workspace(engine, "limiting", clock.now)
    plain = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    rows = {
        (workspace.id, kind): new_message_row(
            workspace.id,
            {"type": kind, "destination": "+15550100" if kind == "SMS" else "http://x/", "body": "b"},
            clock.now,
        )
        for workspace in (listing, limiting, plain)
        for kind in ("WEB_HOOK", "SMS")
    }
    async with engine.begin() as conn:
        await insert_messages(conn, list(rows.values()))
        await suppressions.add(conn, listing.id, "someone@example.com", "EMAIL", None, "test", clock.now)
        await limits.set_limits(conn, limiting.id, {"SMS": 5})
        claimed = await queue.claim(conn, "lease", 10, clock.now, lease_seconds=30)
    flags = {(row.workspace_id, row.type): (row.listed, row.limited) for row in claimed}
    assert flags == {
        (listing.id, "WEB_HOOK"): (True, False),
        (listing.id, "SMS"): (True, False),
        (limiting.id, "WEB_HOOK"): (False, False),
        (limiting.id, "SMS"): (False, True),
        (plain.id, "WEB_HOOK"): (False, False),
        (plain.id, "SMS"): (False, False),
    }


async def test_a_batch_written_again_after_its_commit_reply_was_lost_adds_nothing(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    """The recorder writes a batch again when the database went away around its commit; if the
    commit had landed, the second write must add no attempt, state change or event."""
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, clock.now)
    rows = [
        new_message_row(
            workspace.id, {"type": "WEB_HOOK", "destination": "http://127.0.0.1:9/", "body": "{}"}, clock.now
        )
        for _ in range(3)
    ]
    async with engine.begin() as conn:
        await insert_messages(conn, rows)
        claimed = await queue.claim(conn, "lease", 10, clock.now, lease_seconds=30)
    failed = DeliveryOutcome.failure("SERVER_ERROR", "HTTP 503", status_code=503)
    batch = [
        result(row, DeliveryOutcome(sent=True, status_code=200) if i else failed, clock)
        for i, row in enumerate(claimed)
    ]
    for _ in range(2):
        async with engine.begin() as conn:
            await queue.record(conn, batch)
    async with engine.connect() as conn:
        attempt_rows = (await conn.execute(select(attempts.c.message_key, attempts.c.number))).all()
        event_rows = (await conn.execute(select(events.c.message_key, events.c.kind))).all()
        states = [(await get_message(conn, workspace.id, row.encoded_key)).state for row in claimed]
    assert sorted(attempt_rows) == sorted((row.encoded_key, 1) for row in claimed)
    assert Counter(kind for _, kind in event_rows) == {"message.created": 3, "attempt.made": 3, "state.changed": 3}
    assert sorted(states) == ["SENT", "SENT", "WAITING"]
