"""identity: server-side sessions, rotating refresh tokens, password resets, TOTP MFA

`auth_sessions` is one signed-in session (a refresh-token family): access tokens carry its id and are
refused once it is revoked (logout, password change, deactivation, a reused refresh token).
`refresh_tokens` keeps every refresh token of a family by SHA-256, so presenting a used one is recognised
as reuse. `password_resets` holds mailed one-time links by SHA-256. `users.mfa_secret` is the TOTP
secret, AES-256-GCM under the workspace data key; `mfa_recovery_codes` are SHA-256 hashes.
`workspace_meta.require_mfa` makes MFA mandatory for everyone who may edit policies or the workspace.

Revision ID: 5e0000000001
Revises: 1a0000000001
Create Date: 2026-12-02 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0000000001"
down_revision: str | None = "1a0000000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("last_login_at", TZ, nullable=True))
    op.add_column("users", sa.Column("mfa_secret", sa.LargeBinary(), nullable=True))
    op.add_column("users", sa.Column("mfa_enabled_at", TZ, nullable=True))
    op.add_column(
        "workspace_meta", sa.Column("require_mfa", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index("ix_api_keys_created_by", "api_keys", ["created_by"])
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("refreshed_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("revoked_reason", sa.String(40), nullable=True),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary(), primary_key=True),
        sa.Column(
            "session_id", sa.Uuid(), sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_refresh_tokens_session_id", "refresh_tokens", ["session_id"])
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.LargeBinary(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])
    op.create_table(
        "mfa_recovery_codes",
        sa.Column("code_hash", sa.LargeBinary(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_index("ix_mfa_recovery_codes_user_id", "mfa_recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_table("mfa_recovery_codes")
    op.drop_table("password_resets")
    op.drop_table("refresh_tokens")
    op.drop_table("auth_sessions")
    op.drop_index("ix_api_keys_created_by", "api_keys")
    op.drop_column("workspace_meta", "require_mfa")
    op.drop_column("users", "mfa_enabled_at")
    op.drop_column("users", "mfa_secret")
    op.drop_column("users", "last_login_at")
