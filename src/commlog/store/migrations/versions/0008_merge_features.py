"""merge: the features of issues 5, 3, 7 and 9 were added side by side on 0001; one head again

Revision ID: 0008_merge_features
Revises: 0002_fanout, 0003_events, 0004_limits, 0005_search_indexes, 0006_views, 0007_retention
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008_merge_features"
down_revision: str | Sequence[str] | None = (
    "0002_fanout",
    "0003_events",
    "0004_limits",
    "0005_search_indexes",
    "0006_views",
    "0007_retention",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the branches touch different tables and columns."""


def downgrade() -> None:
    """Nothing to undo."""
