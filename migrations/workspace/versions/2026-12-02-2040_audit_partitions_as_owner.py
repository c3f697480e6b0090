"""audit partitions are made by their owner: the app role appends to the audit log and owns nothing

`audit_ensure_partition` (called by `audit_append` for a month without a partition) and `audit_maintain`
(the daily upkeep) now run with their owner's rights (SECURITY DEFINER, fixed search_path), so the login
role the API and workers use needs no DDL right. `audit_maintain` keeps at least 12 months whatever it is
passed, so the app role cannot drop recent audit months through it.

Revision ID: 7c0000000011
Revises: 7d0000000001
Create Date: 2026-12-02 20:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7c0000000011"
down_revision: str | None = "7d0000000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAINTAIN = """
CREATE OR REPLACE FUNCTION audit_maintain(now_ts timestamptz, retention_months int, months_ahead int DEFAULT 3)
RETURNS TABLE(action text, partition_name text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    this_month timestamp := date_trunc('month', now_ts AT TIME ZONE 'UTC');
    cutoff timestamp := this_month - make_interval(months => greatest(retention_months, 12));
    child record;
    part_month timestamp;
    created text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_maintain'));
    FOR i IN 0..least(greatest(months_ahead, 0), 24) LOOP
        part_month := this_month + make_interval(months => i);
        IF to_regclass('audit_log_' || to_char(part_month, 'YYYY_MM')) IS NULL THEN
            created := audit_ensure_partition(part_month AT TIME ZONE 'UTC');
            action := 'created'; partition_name := created; RETURN NEXT;
        END IF;
    END LOOP;
    FOR child IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass AND c.relname ~ '^audit_log_[0-9]{4}_[0-9]{2}$'
        ORDER BY c.relname
    LOOP
        part_month := to_timestamp(substr(child.relname, 11), 'YYYY_MM')::timestamp;
        IF part_month + interval '1 month' <= cutoff THEN
            EXECUTE format('DROP TABLE %I', child.relname);
            action := 'dropped'; partition_name := child.relname; RETURN NEXT;
        END IF;
    END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute(
        "ALTER FUNCTION audit_ensure_partition(timestamptz) SECURITY DEFINER SET search_path = public, pg_temp"
    )
    op.execute(MAINTAIN)


def downgrade() -> None:
    op.execute("ALTER FUNCTION audit_ensure_partition(timestamptz) SECURITY INVOKER RESET search_path")
    op.execute("ALTER FUNCTION audit_maintain(timestamptz, int, int) SECURITY INVOKER RESET search_path")
