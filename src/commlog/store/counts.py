"""Messages per type and state, from the counts PostgreSQL keeps per workspace (`message_counts`).

A search whose conditions name only the type and the state has its total in a few rows of that
table, whatever the size of the log; any other condition, or SQLite (which keeps no counts), needs
a COUNT over the messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.filters import Equals, OneOf, Predicate
from commlog.store.tables import message_counts, messages

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


def _keeps_counts(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def by_type_and_state(conn: AsyncConnection, workspace_id: str | None = None) -> dict[tuple[str, str], int]:
    """How many messages there are of each type in each state, in one workspace or in all."""
    if _keeps_counts(conn):
        c = message_counts.c
        query = select(c.type, c.state, func.sum(c.n)).group_by(c.type, c.state)
        if workspace_id is not None:
            query = query.where(c.workspace_id == workspace_id)
    else:
        m = messages.c
        query = select(m.type, m.state, func.count()).group_by(m.type, m.state)
        if workspace_id is not None:
            query = query.where(m.workspace_id == workspace_id)
    return {(str(kind), str(state)): int(n) for kind, state, n in await conn.execute(query) if n}


async def kept_total(conn: AsyncConnection, workspace_id: str, predicates: Sequence[Predicate]) -> int | None:
    """The number of the workspace's messages matching all `predicates` from the kept counts, or
    None when there are none (SQLite) or a predicate is on something other than type and state."""
    if not _keeps_counts(conn) or not all(_answerable(p) for p in predicates):
        return None
    groups = await by_type_and_state(conn, workspace_id)
    return sum(
        n for (kind, state), n in groups.items() if all(_holds(p, {"type": kind, "state": state}) for p in predicates)
    )


#: Replaces every row of a group by one holding their sum, in one statement: a writer's rows that
#: commit meanwhile are not in this statement's snapshot and stay as they are.
_FOLD = text(
    "WITH folded AS (DELETE FROM message_counts RETURNING workspace_id, type, state, n) "
    "INSERT INTO message_counts (workspace_id, type, state, n) "
    "SELECT workspace_id, type, state, sum(n) FROM folded GROUP BY 1, 2, 3 HAVING sum(n) <> 0"
)


async def fold(conn: AsyncConnection) -> None:
    """Fold the appended counts into a row per group."""
    if _keeps_counts(conn):
        await conn.execute(_FOLD)
