"""partial indexes: the indexes on columns most rows leave empty hold only the rows with a value

Every insert, claim and recording writes a new version of the message row into each index it
belongs to (a claim changes the state and `next_attempt_at`, so it is never a heap-only update).
An original message has no parent or root, most have no group, user, notification, product tag or
idempotency key, and a final one has no `next_attempt_at`: leaving those rows out of those indexes
took about a fifth of PostgreSQL's work per submitted message, and keeps the due-index as small as
the live work. Events are written unnumbered and numbered later by a reader (store/events.py),
so the two indexes on their number hold only numbered ones. A lookup `column = value`, `IN (...)`
or `>` implies the column is not NULL, so both databases still use the indexes for it.

On SQLite the idempotency key's uniqueness was a table constraint, which only a rebuilt table can
drop; the batch rebuilds it once.

Revision ID: 0010_partial_indexes
Revises: 0009_purge_turn
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_partial_indexes"
down_revision: str | None = "0009_purge_turn"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Each index: its table, its columns, and the column whose presence puts a row in it.
PARTIAL: dict[str, tuple[str, list[str], str]] = {
    "ix_messages_due": ("messages", ["next_attempt_at"], "next_attempt_at"),
    "ix_messages_parent": ("messages", ["parent_key"], "parent_key"),
    "ix_messages_root": ("messages", ["root_key"], "root_key"),
    "ix_messages_ws_group_key_created": ("messages", ["workspace_id", "group_key", "creation_date"], "group_key"),
    "ix_messages_ws_user_key_created": ("messages", ["workspace_id", "user_key", "creation_date"], "user_key"),
    "ix_messages_ws_notification": ("messages", ["workspace_id", "notification_key"], "notification_key"),
    "ix_messages_ws_product_tag_env_created": (
        "messages",
        ["workspace_id", "product_tag", "env", "creation_date"],
        "product_tag",
    ),
    "ix_events_ws_seq": ("events", ["workspace_id", "seq"], "seq"),
    "ix_events_seq": ("events", ["seq"], "seq"),
}
#: Unique indexes; the idempotency key's was a table constraint until now.
UNIQUE = {"ix_events_seq"}
IDEMPOTENCY = "uq_messages_workspace_id_idempotency_key"


def _create_partial(name: str, table: str, columns: list[str], column: str, unique: bool) -> None:
    present = sa.text(f"{column} IS NOT NULL")
    op.create_index(name, table, columns, unique=unique, postgresql_where=present, sqlite_where=present)


def upgrade() -> None:
    for name, (table, columns, column) in PARTIAL.items():
        op.drop_index(name, table_name=table)
        _create_partial(name, table, columns, column, unique=name in UNIQUE)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(IDEMPOTENCY, "messages", type_="unique")
    else:
        with op.batch_alter_table("messages") as batch:
            batch.drop_constraint(IDEMPOTENCY, type_="unique")
    _create_partial(IDEMPOTENCY, "messages", ["workspace_id", "idempotency_key"], "idempotency_key", unique=True)


def downgrade() -> None:
    op.drop_index(IDEMPOTENCY, table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.create_unique_constraint(IDEMPOTENCY, ["workspace_id", "idempotency_key"])
    for name, (table, columns, _) in PARTIAL.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=name in UNIQUE)
