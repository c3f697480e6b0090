"""catalog outbox: changes of the catalog decided in a workspace database

A change that spans the workspace database and the catalog (closing a workspace) is written here in the same
transaction as its audit event; the catalog is changed after that commit, and the row is marked applied. A
crash in between leaves a pending row that the next run (`workspaces.apply_catalog`, every minute) applies.

Revision ID: 1a0000000001
Revises: 5b1e0c2f7a44
Create Date: 2026-12-02 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "1a0000000001"
down_revision: str | None = "5b1e0c2f7a44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_outbox",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("details", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "catalog_outbox_pending", "catalog_outbox", ["created_at"], postgresql_where=sa.text("applied_at IS NULL")
    )


def downgrade() -> None:
    op.drop_table("catalog_outbox")
