"""Totals from the counts the database keeps per workspace, type and state (`message_counts`).

A search whose conditions name only the type and the state has its total in a few rows of that
table, whatever the size of the log; any other condition needs the COUNT over the messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.filters import Equals, OneOf, Predicate
from commlog.store.tables import message_counts

#: The columns the counts are kept by (beside the workspace).
COUNTED = frozenset({"type", "state"})


def _answerable(predicate: Predicate) -> bool:
    if predicate.attribute not in COUNTED:
        return False
    return isinstance(predicate, OneOf) or (isinstance(predicate, Equals) and predicate.case_sensitive)


def _holds(predicate: Predicate, group: dict[str, str]) -> bool:
    value = group[predicate.attribute]
    if isinstance(predicate, OneOf):
        return value in predicate.values
    assert isinstance(predicate, Equals)
    return value == predicate.value


async def kept_total(conn: AsyncConnection, workspace_id: str, predicates: Sequence[Predicate]) -> int | None:
    """The number of the workspace's messages matching all `predicates`, or None when one of them
    is on something other than the type and the state."""
    if not all(_answerable(p) for p in predicates):
        return None
    groups = await conn.execute(
        select(message_counts.c.type, message_counts.c.state, func.sum(message_counts.c.n))
        .where(message_counts.c.workspace_id == workspace_id)
        .group_by(message_counts.c.type, message_counts.c.state)
    )
    return sum(
        int(n) for kind, state, n in groups if all(_holds(p, {"type": kind, "state": state}) for p in predicates)
    )


#: Replaces every row of a group by one holding their sum, in one statement: a writer's rows that
#: commit meanwhile are not in this statement's snapshot and stay as they are.
_FOLD = text(
    "WITH folded AS (DELETE FROM message_counts RETURNING workspace_id, type, state, n) "
    "INSERT INTO message_counts (workspace_id, type, state, n) "
    "SELECT workspace_id, type, state, sum(n) FROM folded GROUP BY 1, 2, 3 HAVING sum(n) <> 0"
)


async def fold(conn: AsyncConnection) -> None:
    """Fold PostgreSQL's appended counts (SQLite keeps one row per group already)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_FOLD)
