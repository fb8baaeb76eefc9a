"""saved views: when a view was last saved again

The dashboard's saved_views table came with the initial schema; saving a view again under its name
replaces its definition, and the list of views says when.

Revision ID: 0006_views
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from commlog.store.types import UTCDateTime

revision: str = "0006_views"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("saved_views", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("saved_views", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
