"""message counts: messages per workspace, type and state, kept by triggers on the messages table

The total of a search is an exact COUNT, which at ten million messages takes 60-120 ms for a state
or a type that a tenth of them share. The seeds' most common searches filter on nothing else, so
PostgreSQL keeps those counts as the rows change, whatever statement changes them: one
statement-level trigger per kind of change reads the statement's transition tables and appends a
row per (workspace, type, state) whose number changed. Rows are never updated, so two writers never
wait for each other on a counter; the worker folds them now and then. Existing messages are
counted once, here.

SQLite has row-level triggers only, and one cost 40-50 us per inserted row, more than doubling a
bulk insert; at the sizes SQLite serves a COUNT is a few milliseconds. Its table stays empty.

Revision ID: 0011_message_counts
Revises: 0010_partial_indexes
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_message_counts"
down_revision: str | None = "0010_partial_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND = "INSERT INTO message_counts (workspace_id, type, state, n)"

#: Each trigger's name, event, transition tables and what it writes.
_POSTGRES: dict[str, tuple[str, str, str]] = {
    "message_counts_inserted": (
        "INSERT",
        "NEW TABLE AS new_rows",
        f"{_APPEND} SELECT workspace_id, type, state, count(*) FROM new_rows GROUP BY 1, 2, 3",
    ),
    "message_counts_deleted": (
        "DELETE",
        "OLD TABLE AS old_rows",
        f"{_APPEND} SELECT workspace_id, type, state, -count(*) FROM old_rows GROUP BY 1, 2, 3",
    ),
    "message_counts_updated": (
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        f"{_APPEND} SELECT workspace_id, type, state, sum(n) FROM ("
        " SELECT workspace_id, type, state, 1 AS n FROM new_rows"
        " UNION ALL SELECT workspace_id, type, state, -1 FROM old_rows"
        ") AS changes GROUP BY 1, 2, 3 HAVING sum(n) <> 0",
    ),
    # A TRUNCATE empties every workspace's log at once (and has no transition tables).
    "message_counts_truncated": ("TRUNCATE", "", "DELETE FROM message_counts"),
}


def upgrade() -> None:
    op.create_table(
        "message_counts",
        sa.Column("workspace_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_message_counts_group", "message_counts", ["workspace_id", "type", "state"])
    if op.get_bind().dialect.name != "postgresql":
        return
    # No write may land between the count below and the triggers taking over.
    op.execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")
    for name, (event, tables, append) in _POSTGRES.items():
        body = f"BEGIN {append}; RETURN NULL; END"
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$")
        referencing = f"REFERENCING {tables} " if tables else ""
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON messages {referencing}FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    op.execute(f"{_APPEND} SELECT workspace_id, type, state, count(*) FROM messages GROUP BY workspace_id, type, state")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _POSTGRES:
            op.execute(f"DROP TRIGGER {name} ON messages")
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_index("ix_message_counts_group", "message_counts")
    op.drop_table("message_counts")
