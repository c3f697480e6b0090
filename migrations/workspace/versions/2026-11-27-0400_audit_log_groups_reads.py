"""audit log groups a request's reads

One physical row per group of READ (or DENIED) events of one flush that name the same fields: `audit_log`
holds `entity_ids text[]`; the view `audit_events` keeps the logical shape (one event per request and
record), so every reader is unchanged. Writing 200 records' reads is then one row instead of 200. Event ids
of grouped rows are derived from the row id and the entity id (md5 -> uuid), stable across reads.

Rows that name at most one entity keep their canonical form (`db.audit`), so batches written before this
revision still verify.

Revision ID: 5b1e0c2f7a44
Revises: a0d17a99e3c1
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5b1e0c2f7a44"
down_revision: str | None = "a0d17a99e3c1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RENAME = """
DO $$
DECLARE child record;
BEGIN
    ALTER TABLE audit_events RENAME TO audit_log;
    FOR child IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'audit_log'::regclass LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', child.relname,
                       'audit_log_' || substr(child.relname, length('audit_events_') + 1));
    END LOOP;
END $$;
"""

STATEMENTS = [
    RENAME,
    "ALTER TABLE audit_log ADD COLUMN entity_ids text[] NOT NULL DEFAULT '{}'",
    "UPDATE audit_log SET entity_ids = ARRAY[entity_id] WHERE entity_id IS NOT NULL",
    "DROP INDEX IF EXISTS ix_audit_events_entity",
    "ALTER TABLE audit_log DROP COLUMN entity_id",
    "ALTER TABLE audit_log RENAME CONSTRAINT pk_audit_events TO pk_audit_log",
    "ALTER INDEX IF EXISTS ix_audit_events_actor RENAME TO ix_audit_log_actor",
    "ALTER INDEX IF EXISTS ix_audit_events_batch_seq RENAME TO ix_audit_log_batch_seq",
    "CREATE INDEX ix_audit_log_entity_ids ON audit_log USING gin (entity_ids)",
    "CREATE INDEX ix_audit_log_entity_type ON audit_log (entity_type, occurred_at)",
    """
CREATE VIEW audit_events AS
SELECT CASE WHEN cardinality(l.entity_ids) > 1 THEN md5(l.id::text || e.entity_id)::uuid ELSE l.id END AS id,
       l.occurred_at, l.actor_id, l.actor_kind, l.action, l.entity_type, e.entity_id, l.fields, l.categories,
       l.request_id, l.client_ip, l.user_agent, l.policy_version, l.details, l.batch_seq
FROM audit_log l
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(l.entity_ids) = 0 THEN ARRAY[NULL::text] ELSE l.entity_ids END)
     AS e(entity_id)
""",
    """
CREATE OR REPLACE FUNCTION audit_ensure_partition(at_ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', at_ts AT TIME ZONE 'UTC');
    part text := 'audit_log_' || to_char(month_start, 'YYYY_MM');
BEGIN
    IF to_regclass(part) IS NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('audit_partition:' || part));
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
            part, month_start AT TIME ZONE 'UTC', (month_start + interval '1 month') AT TIME ZONE 'UTC');
    END IF;
    RETURN part;
END $$
""",
    """
CREATE OR REPLACE FUNCTION audit_maintain(now_ts timestamptz, retention_months int, months_ahead int DEFAULT 3)
RETURNS TABLE(action text, partition_name text)
LANGUAGE plpgsql AS $$
DECLARE
    this_month timestamp := date_trunc('month', now_ts AT TIME ZONE 'UTC');
    cutoff timestamp := this_month - make_interval(months => retention_months);
    child record;
    part_month timestamp;
    created text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_maintain'));
    FOR i IN 0..months_ahead LOOP
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
""",
    """
CREATE OR REPLACE FUNCTION audit_append(p_lock bigint, p_content bytea, p_rows jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
    new_seq bigint;
    n bigint := jsonb_array_length(p_rows);
    first_at timestamptz;
    last_at timestamptz;
    m timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT min((r->>1)::timestamptz), max((r->>1)::timestamptz)
      INTO first_at, last_at FROM jsonb_array_elements(p_rows) r;
    FOR m IN SELECT DISTINCT date_trunc('month', (r->>1)::timestamptz AT TIME ZONE 'UTC')
                    AT TIME ZONE 'UTC' FROM jsonb_array_elements(p_rows) r LOOP
        PERFORM audit_ensure_partition(m);
    END LOOP;
    SELECT seq, chain_hash INTO last_seq, last_hash FROM audit_batches ORDER BY seq DESC LIMIT 1;
    new_seq := coalesce(last_seq, 0) + 1;
    last_hash := coalesce(last_hash, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    INSERT INTO audit_log (id, occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, fields,
                           categories, request_id, client_ip, user_agent, policy_version, details, batch_seq)
    SELECT (r->>0)::uuid, (r->>1)::timestamptz, (r->>2)::uuid, r->>3, r->>4, r->>5,
           CASE jsonb_typeof(r->6) WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(r->6))
                                   WHEN 'string' THEN ARRAY[r->>6] ELSE '{}'::text[] END,
           ARRAY(SELECT jsonb_array_elements_text(r->7)), ARRAY(SELECT jsonb_array_elements_text(r->8)),
           r->>9, r->>10, r->>11, (r->>12)::bigint, (r->>13)::jsonb, new_seq
    FROM jsonb_array_elements(p_rows) r;
    INSERT INTO audit_batches (seq, created_at, row_count, content_hash, prev_hash, chain_hash,
                               first_occurred_at, last_occurred_at)
    VALUES (new_seq, now(), n, p_content, last_hash,
            sha256(last_hash || p_content || int8send(new_seq) || int8send(n)), first_at, last_at);
    RETURN new_seq;
END $$
""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the grouped audit log cannot be split back without losing the chain")
