"""export_jobs.redact_names: other people's names the operator chose to leave out of a person's copy (s.20(2))

Revision ID: c09e00000001
Revises: 9b0000000001
Create Date: 2026-12-03 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c09e00000001"
down_revision: str | None = "9b0000000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("export_jobs", sa.Column("redact_names", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("export_jobs", "redact_names")
