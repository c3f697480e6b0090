"""contacts: an index on lower(email), the key imports deduplicate by (and the contact e-mail filter, duplicates)

Without it every import batch read the whole contacts table to match its e-mails: an import slowed down as
the table grew (quadratic in the file's length).

Revision ID: d0b000000001
Revises: d0a000000001
Create Date: 2026-12-03 11:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d0b000000001"
down_revision: str | None = "d0a000000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_email_lower", "contacts", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_contacts_email_lower", table_name="contacts")
