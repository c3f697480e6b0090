"""privacy workflows: a data request names zero, one or several contacts; delivery, identity check, letters;
workspace settings (business name, DPO contact, time zone); retention CLEAR_FIELDS and minimum periods

`data_request_contacts` is the join table (backfilled from `data_requests.contact_id`, which stays as the
first named contact and becomes nullable: a request may name nobody, s.19(1)(a) still needs a reply).

Revision ID: 6f0000000001
Revises: 8b0000000001
Create Date: 2026-12-02 10:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6f0000000001"
down_revision: str | None = "8b0000000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "data_request_contacts",
        sa.Column("data_request_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["data_request_id"], ["data_requests.id"], ondelete="CASCADE",
                                name=op.f("fk_data_request_contacts_data_request_id_data_requests")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE",
                                name=op.f("fk_data_request_contacts_contact_id_contacts")),
        sa.PrimaryKeyConstraint("data_request_id", "contact_id", name=op.f("pk_data_request_contacts")),
    )
    op.create_index(op.f("ix_data_request_contacts_contact_id"), "data_request_contacts", ["contact_id"])
    op.execute("INSERT INTO data_request_contacts (data_request_id, contact_id) "
               "SELECT id, contact_id FROM data_requests WHERE contact_id IS NOT NULL")
    op.alter_column("data_requests", "contact_id", nullable=True)
    for name, type_ in [
        ("requester_email", sa.String(320)),
        ("identity_verified_at", TS),
        ("identity_verified_by", sa.Uuid()),
        ("identity_check", sa.String(500)),
        ("delivered_at", TS),
        ("delivery_method", sa.String(200)),
        ("correction", sa.Text()),
        ("refusal_ground", sa.String(64)),
        ("letters", postgresql.JSONB()),
        ("correction_notices", postgresql.JSONB()),
        ("requester_pseudonymised_at", TS),
    ]:
        op.add_column("data_requests", sa.Column(name, type_, nullable=True))
    op.create_table(
        "workspace_settings",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("business_name", sa.String(200), nullable=True),
        sa.Column("dpo_name", sa.String(200), nullable=True),
        sa.Column("dpo_email", sa.String(320), nullable=True),
        sa.Column("dpo_phone", sa.String(32), nullable=True),
        sa.Column("dpo_address", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="Asia/Hong_Kong"),
        sa.Column("updated_at", TS, nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_workspace_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_settings")),
    )
    op.execute("INSERT INTO workspace_settings (id) VALUES (1)")
    op.add_column("retention_policies", sa.Column("fields", postgresql.JSONB(), nullable=True))
    op.create_table(
        "retention_minimums",
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("min_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("category", name=op.f("pk_retention_minimums")),
    )
    op.execute("INSERT INTO retention_minimums (category, min_days) VALUES ('finance', 2557)")


def downgrade() -> None:
    op.drop_table("retention_minimums")
    op.drop_column("retention_policies", "fields")
    op.drop_table("workspace_settings")
    for name in ("requester_email", "identity_verified_at", "identity_verified_by", "identity_check", "delivered_at",
                 "delivery_method", "correction", "refusal_ground", "letters", "correction_notices",
                 "requester_pseudonymised_at"):
        op.drop_column("data_requests", name)
    op.execute("DELETE FROM data_requests WHERE contact_id IS NULL")
    op.alter_column("data_requests", "contact_id", nullable=False)
    op.drop_index(op.f("ix_data_request_contacts_contact_id"), table_name="data_request_contacts")
    op.drop_table("data_request_contacts")
