"""A claim takes at most `limit` messages, whatever PostgreSQL's statistics say about the queue.

Found beside the retention purge's batches: with statistics from a moment when nothing was due (an
analyzed log whose queue was empty, then a burst), PostgreSQL planned the claim's
`IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` as a nested-loop semi-join that ran the subquery
again for every due row; SKIP LOCKED passed the rows the statement had just claimed, so each run
added more, and one worker took every due message (357 for a limit of 2).
"""

from __future__ import annotations

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from commlog.domain.clock import utc_now
from commlog.store import queue
from commlog.store.messages import insert_messages, new_message_row
from commlog.store.tables import messages
from commlog.store.workspaces import DEFAULT_WORKSPACE, ensure_workspace


async def test_a_claim_takes_no_more_than_its_limit_after_the_queue_was_analyzed_empty(engine: AsyncEngine) -> None:
    now = utc_now()
    workspace = await ensure_workspace(engine, DEFAULT_WORKSPACE, now)

    def hooks(count: int) -> list[dict[str, object]]:
        return [
            new_message_row(
                workspace.id, {"type": "WEB_HOOK", "destination": "https://example.com/", "body": "{}"}, now
            )
            for _ in range(count)
        ]

    async with engine.begin() as conn:
        await insert_messages(conn, hooks(3000))
        await conn.execute(update(messages).values(state="SENT", next_attempt_at=None))
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE messages"))
    async with engine.begin() as conn:
        await insert_messages(conn, hooks(50))
    async with engine.begin() as conn:
        claimed = await queue.claim(conn, "lease", 2, utc_now(), 60)
    assert len(claimed) == 2
