"""destination prefixes on SQLite: the index on lower(destination) that PostgreSQL has had since 0005

SQLite cannot use an index for a LIKE on an expression, so 0005 left it out; a STARTS_WITH on
destination read every message of the workspace (420 ms through the API at a million messages).
The search now also states the prefix as a range on lower(destination) on SQLite, which this
index serves.

Revision ID: 0012_sqlite_destination_prefix
Revises: 0011_message_counts
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_sqlite_destination_prefix"
down_revision: str | None = "0011_message_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX ix_messages_ws_lower_destination ON messages (workspace_id, lower(destination))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_messages_ws_lower_destination", table_name="messages")
