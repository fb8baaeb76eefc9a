"""event stream: the log's events in commit order, and subscribers' acknowledgements

Revision ID: 0003_events
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commlog.store.types import UTCDateTime

revision: str = "0003_events"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message_key", sa.String(length=32), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("subscriber", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_ws_seq", "events", ["workspace_id", "seq"])
    op.create_index("ix_events_seq", "events", ["seq"], unique=True)
    op.create_index(
        "ix_events_unsequenced",
        "events",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )
    op.create_table(
        "stream_acks",
        sa.Column("message_key", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("acked_at", UTCDateTime(), nullable=False),
        sa.Column("acked_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("message_key", name=op.f("pk_stream_acks")),
    )


def downgrade() -> None:
    op.drop_table("stream_acks")
    op.drop_index("ix_events_unsequenced", table_name="events")
    op.drop_index("ix_events_seq", table_name="events")
    op.drop_index("ix_events_ws_seq", table_name="events")
    op.drop_table("events")
