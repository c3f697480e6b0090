"""audit append in one round trip

A flush used four round trips (chain lock, last batch, COPY, batch row). `audit_append` does all of it
in the database: take the chain lock, ensure the months' partitions, read the previous batch, insert the
rows (given as a JSON array) and the chained batch row. The chain hash is computed here exactly as
`db.audit.link_hash` computes it in Python: sha256(prev || content || seq || row_count), integers as
8 bytes big-endian.

Revision ID: a0d17a99e3c1
Revises: 3d39fd5e8468
Create Date: 2026-11-27 03:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a0d17a99e3c1"
down_revision: str | None = "3d39fd5e8468"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND = """
-- p_rows: the batch's canonical rows (db.audit.canonical_body), each a JSON array in audit_events column
-- order without batch_seq; details arrive as canonical JSON text.
CREATE FUNCTION audit_append(p_lock bigint, p_content bytea, p_rows jsonb) RETURNS bigint
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
    INSERT INTO audit_events (id, occurred_at, actor_id, actor_kind, action, entity_type, entity_id, fields,
                              categories, request_id, client_ip, user_agent, policy_version, details, batch_seq)
    SELECT (r->>0)::uuid, (r->>1)::timestamptz, (r->>2)::uuid, r->>3, r->>4, r->>5, r->>6,
           ARRAY(SELECT jsonb_array_elements_text(r->7)), ARRAY(SELECT jsonb_array_elements_text(r->8)),
           r->>9, r->>10, r->>11, (r->>12)::bigint, (r->>13)::jsonb, new_seq
    FROM jsonb_array_elements(p_rows) r;
    INSERT INTO audit_batches (seq, created_at, row_count, content_hash, prev_hash, chain_hash,
                               first_occurred_at, last_occurred_at)
    VALUES (new_seq, now(), n, p_content, last_hash,
            sha256(last_hash || p_content || int8send(new_seq) || int8send(n)), first_at, last_at);
    RETURN new_seq;
END $$;
"""


def upgrade() -> None:
    op.execute(APPEND)


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_append(bigint, bytea, jsonb)")
