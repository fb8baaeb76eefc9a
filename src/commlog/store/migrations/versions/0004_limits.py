"""business-logic limits: daily sending limits, the day's counts, the suppression list

Revision ID: 0004_limits
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commlog.store.types import UTCDateTime

revision: str = "0004_limits"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_limits",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("daily_limit", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_send_limits_workspace_id_workspaces"),
        sa.PrimaryKeyConstraint("workspace_id", "channel", name="pk_send_limits"),
    )
    op.create_table(
        "daily_sends",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_daily_sends_workspace_id_workspaces"),
        sa.PrimaryKeyConstraint("workspace_id", "channel", "day", name="pk_daily_sends"),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("destination_key", sa.String(length=2048), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_suppressions_workspace_id_workspaces"),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
        sa.UniqueConstraint(
            "workspace_id", "destination_key", "channel", name="uq_suppressions_workspace_id_destination_key_channel"
        ),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("daily_sends")
    op.drop_table("send_limits")
