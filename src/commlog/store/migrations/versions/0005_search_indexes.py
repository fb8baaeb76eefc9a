"""search indexes: destination prefixes and seed 002's product and environment

Mambu's STARTS_WITH on destination compares `lower(destination)`; on PostgreSQL an expression index
with text_pattern_ops serves that prefix (SQLite cannot use an index for it). Seed 002's log filters
by product_tag and env within a time range, newest first.

Revision ID: 0005_search_indexes
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_search_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_ws_product_tag_env_created", "messages", ["workspace_id", "product_tag", "env", "creation_date"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_ws_lower_destination"
            " ON messages (workspace_id, lower(destination) text_pattern_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_messages_ws_lower_destination", table_name="messages")
    op.drop_index("ix_messages_ws_product_tag_env_created", table_name="messages")
