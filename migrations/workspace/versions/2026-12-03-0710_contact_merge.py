"""contact merge: `contacts.merged_into_id` points an erased duplicate at the record it was merged into

A data access request about the primary follows the pointer (the merged-in records' audit trail belongs to the
same person). Also grants `contact merge` (admin, manager) to existing workspaces (new workspaces get it from
authz/default_policy.csv).

Revision ID: 9b0000000001
Revises: 9a0000000001
Create Date: 2026-12-03 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b0000000001"
down_revision: str | None = "9a0000000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS = (
    ("admin", "contact", "merge"),
    ("manager", "contact", "merge"),
)


def upgrade() -> None:
    op.add_column("contacts", sa.Column("merged_into_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_contacts_merged_into_id_contacts"), "contacts", "contacts", ["merged_into_id"], ["id"]
    )
    op.create_index(
        "ix_contacts_merged_into_id", "contacts", ["merged_into_id"],
        postgresql_where=sa.text("merged_into_id IS NOT NULL"),
    )
    rules = sa.table(
        "casbin_rule",
        sa.column("ptype", sa.String),
        sa.column("v0", sa.String),
        sa.column("v1", sa.String),
        sa.column("v2", sa.String),
        sa.column("v3", sa.String),
        sa.column("v4", sa.String),
        sa.column("v5", sa.String),
    )
    conn = op.get_bind()
    granted = False
    seeded = conn.execute(sa.select(sa.func.count()).select_from(rules).where(rules.c.ptype == "p")).scalar()
    for role, resource, action in GRANTS if seeded else ():  # a new workspace is seeded from the CSV afterwards
        exists = conn.execute(
            sa.select(sa.func.count()).select_from(rules).where(
                rules.c.ptype == "p", rules.c.v0 == role, rules.c.v1 == resource, rules.c.v2 == action
            )
        ).scalar()
        if not exists:
            op.execute(rules.insert().values(ptype="p", v0=role, v1=resource, v2=action, v3="allow", v4="all", v5=""))
            granted = True
    if granted:  # running processes recompile their decisions when the version moves
        op.execute("UPDATE workspace_meta SET policy_version = policy_version + 1 WHERE id = 1")


def downgrade() -> None:
    op.execute("DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'contact' AND v2 = 'merge'")
    op.drop_index("ix_contacts_merged_into_id", table_name="contacts")
    op.drop_constraint(op.f("fk_contacts_merged_into_id_contacts"), "contacts", type_="foreignkey")
    op.drop_column("contacts", "merged_into_id")
