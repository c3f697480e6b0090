"""roles as things: a role's description and owner

`roles` holds the metadata of the roles an admin created with `createRole` (the built-in roles of
`authz/default_policy.csv` are described in code). A role's rules stay in `casbin_rule` and its bindings
in `casbin_rule` g lines and `api_keys.role`; a role with a row here exists even before it has a rule.

Revision ID: 9a0000000001
Revises: 7c0000000011
Create Date: 2026-12-03 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a0000000001"
down_revision: str | None = "7c0000000011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_roles_owner_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )


def downgrade() -> None:
    op.drop_table("roles")
