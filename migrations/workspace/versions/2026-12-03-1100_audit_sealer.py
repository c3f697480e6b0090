"""audit batches are sealed into the chain after commit: no per-workspace lock on the request's path

`audit_append` took the workspace's chain lock and held it until COMMIT, so one workspace's writers queued
behind each other. Now a request's `audit_append(content, rows)` takes no lock: its batch gets `seq` from a
sequence (gaps from rolled-back transactions are harmless) and is written *unsealed* (`chain_position`,
`prev_hash`, `chain_hash` null), with the request's own content digest. `audit_seal(limit)` (the sealer's
actor, run shortly after) takes a try-advisory lock (one sealer at a time per workspace; the others return
-1 at once), then links the committed unsealed batches it sees, in seq order, at the next chain positions:

    chain_hash = sha256(prev_hash || content_hash || chain_position (8 B BE) || row_count (8 B BE))

which is the previous formula with `chain_position` in place of `seq`. Batches chained before this revision get
`chain_position = seq`, so they verify unchanged. A batch still in flight when the sealer runs is simply not
visible yet: it is sealed by a later run, at a later position.

The app role keeps SELECT and INSERT only on `audit_batches`: `audit_seal` runs as its owner.
The three-argument `audit_append(lock, content, rows)` stays as a lock-free wrapper for processes of the
previous release during a rolling upgrade.

Revision ID: d0a000000001
Revises: c09e00000001
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d0a000000001"
down_revision: str | None = "c09e00000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZERO = "'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea"

APPEND = """
CREATE FUNCTION audit_append(p_content bytea, p_rows jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    new_seq bigint := nextval('audit_batch_seq');
    n bigint := jsonb_array_length(p_rows);
    first_at timestamptz;
    last_at timestamptz;
    months timestamptz[];
    m timestamptz;
BEGIN
    -- One pass for the batch's time range and its months; a month's partition is looked up before calling
    -- audit_ensure_partition (SECURITY DEFINER: a call costs more than the lookup).
    SELECT min(t), max(t), array_agg(DISTINCT date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
      INTO first_at, last_at, months
      FROM (SELECT (r->>1)::timestamptz AS t FROM jsonb_array_elements(p_rows) r) x;
    FOREACH m IN ARRAY coalesce(months, '{}') LOOP
        IF to_regclass('audit_log_' || to_char(m AT TIME ZONE 'UTC', 'YYYY_MM')) IS NULL THEN
            PERFORM audit_ensure_partition(m);
        END IF;
    END LOOP;
    INSERT INTO audit_log (id, occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, fields,
                           categories, request_id, client_ip, user_agent, policy_version, details, batch_seq)
    SELECT (r->>0)::uuid, (r->>1)::timestamptz, (r->>2)::uuid, r->>3, r->>4, r->>5,
           CASE jsonb_typeof(r->6) WHEN 'array' THEN ARRAY(SELECT jsonb_array_elements_text(r->6))
                                   WHEN 'string' THEN ARRAY[r->>6] ELSE '{}'::text[] END,
           ARRAY(SELECT jsonb_array_elements_text(r->7)), ARRAY(SELECT jsonb_array_elements_text(r->8)),
           r->>9, r->>10, r->>11, (r->>12)::bigint, (r->>13)::jsonb, new_seq
    FROM jsonb_array_elements(p_rows) r;
    INSERT INTO audit_batches (seq, created_at, row_count, content_hash, first_occurred_at, last_occurred_at)
    VALUES (new_seq, now(), n, p_content, first_at, last_at);
    RETURN new_seq;
END $$
"""

LEGACY_APPEND = """
CREATE OR REPLACE FUNCTION audit_append(p_lock bigint, p_content bytea, p_rows jsonb) RETURNS bigint
LANGUAGE sql AS $$ SELECT audit_append(p_content, p_rows) $$
"""

SEAL = f"""
CREATE FUNCTION audit_seal(p_limit int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    last_pos bigint;
    last_hash bytea;
    b record;
    sealed bigint := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('audit_seal')) THEN
        RETURN -1;  -- another sealer is at work on this workspace
    END IF;
    -- A statement after the lock: it sees whatever the previous sealer committed.
    SELECT chain_position, chain_hash INTO last_pos, last_hash
      FROM audit_batches WHERE chain_position IS NOT NULL ORDER BY chain_position DESC LIMIT 1;
    last_pos := coalesce(last_pos, 0);
    last_hash := coalesce(last_hash, {ZERO});
    FOR b IN SELECT seq, content_hash, row_count FROM audit_batches
             WHERE chain_position IS NULL ORDER BY seq LIMIT greatest(p_limit, 1) LOOP
        UPDATE audit_batches
           SET chain_position = last_pos + 1, prev_hash = last_hash, sealed_at = clock_timestamp(),
               chain_hash = sha256(last_hash || b.content_hash || int8send(last_pos + 1) || int8send(b.row_count))
         WHERE seq = b.seq
        RETURNING chain_position, chain_hash INTO last_pos, last_hash;
        sealed := sealed + 1;
    END LOOP;
    RETURN sealed;
END $$
"""

STATEMENTS = [
    "ALTER TABLE audit_batches ADD COLUMN chain_position bigint",
    "ALTER TABLE audit_batches ADD COLUMN sealed_at timestamptz",
    "UPDATE audit_batches SET chain_position = seq, sealed_at = created_at",
    "ALTER TABLE audit_batches ALTER COLUMN prev_hash DROP NOT NULL",
    "ALTER TABLE audit_batches ALTER COLUMN chain_hash DROP NOT NULL",
    "ALTER TABLE audit_batches ADD CONSTRAINT ck_audit_batches_sealed CHECK ("
    "(chain_position IS NULL) = (prev_hash IS NULL) AND (chain_position IS NULL) = (chain_hash IS NULL) "
    "AND (chain_position IS NULL) = (sealed_at IS NULL))",
    "CREATE UNIQUE INDEX ux_audit_batches_position ON audit_batches (chain_position)",
    # No partial index of the unsealed batches: the unique index finds `chain_position IS NULL` (few rows), and one
    # index fewer is one less insert on every request's path.
    "CREATE SEQUENCE audit_batch_seq OWNED BY audit_batches.seq",
    "SELECT setval('audit_batch_seq', coalesce((SELECT max(seq) FROM audit_batches), 0) + 1, false)",
    APPEND,
    LEGACY_APPEND,
    SEAL,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("batches sealed out of seq order cannot be chained back by seq")
