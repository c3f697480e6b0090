"""workspace purge reminders and key rotation progress

Revision ID: 3c1f7a2d9b40
Revises: 8929efa8f45f
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c1f7a2d9b40"
down_revision: str | None = "8929efa8f45f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("purge_reminded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("data_keys", sa.Column("reencrypted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("data_keys", "reencrypted_at")
    op.drop_column("workspaces", "purge_reminded_at")
