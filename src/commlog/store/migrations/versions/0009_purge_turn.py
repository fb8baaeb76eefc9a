"""purge turn: when a worker last took a workspace's daily retention purge

Revision ID: 0009_purge_turn
Revises: 0008_merge_features
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commlog.store.types import UTCDateTime

revision: str = "0009_purge_turn"
down_revision: str | None = "0008_merge_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_purge_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("last_purge_at")
