"""multi-channel notifications: each fanned-out message points at its notification

Revision ID: 0002_fanout
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_fanout"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild on SQLite): the log may be large.
    op.add_column("messages", sa.Column("notification_key", sa.String(32), nullable=True))
    op.create_index("ix_messages_ws_notification", "messages", ["workspace_id", "notification_key"])


def downgrade() -> None:
    op.drop_index("ix_messages_ws_notification", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("notification_key")
