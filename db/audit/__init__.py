"""The audit writer: a request-scoped buffer of audit events, flushed as one batch per flush, sealed into a
hash chain shortly after the commit.

Audit rows name *what* was touched (entity, field paths, PII categories) and never hold field values.
Each `flush` is one batch and one database round trip, with no lock: the SQL function `audit_append` (see the
migrations) ensures the months' partitions of `audit_log`, inserts the rows and a row in `audit_batches`
holding the batch's own digest, under a `seq` from a sequence. The batch commits (or not) with the request.
The sealer (`seal`, the `audit.seal` actor) then links committed unsealed batches, in the order it sees them,
at the next chain positions:

    content_hash = sha256(CONTENT_VERSION || JSON [canonical rows sorted by (id, occurred_at)])  (Python)
    chain_hash   = sha256(prev_hash || content_hash || chain_position (8 bytes BE) || row_count (8 bytes BE))

`verify_chain` walks the chain by position and recomputes both, and checks each unsealed batch's rows against
its own digest; `maintain_partitions` runs the monthly partition job. The chain is not keyed: it detects edits
by anyone who does not recompute every later batch, so the newest `chain_hash` should also be anchored outside
the workspace database to detect wholesale rewrites or a truncated tail (batch rows and their events both
deleted); an unsealed batch deleted with its rows before the sealer runs (seconds) is not detected either.

The package: `canonical` (row form and hashes), `buffer` (AuditActor, AuditBuffer), `writer` (flush),
`sealer` (seal), `verify` (verify_chain), `partitions` (maintain_partitions). Import the names from `db.audit`.
"""

from __future__ import annotations

from db.audit.buffer import ACTOR_KINDS, CHANGE_ACTIONS, AuditActor, AuditBuffer, AuditSavepoint
from db.audit.canonical import AUDIT_COLUMNS, canonical_body, content_hash, group_rows, link_hash
from db.audit.partitions import DEFAULT_RETENTION_MONTHS, MIN_RETENTION_MONTHS, maintain_partitions
from db.audit.sealer import SEAL_LIMIT, SealNudge, seal, unsealed
from db.audit.verify import ChainReport, verify_chain
from db.audit.writer import CHAIN_LOCK_KEY, flush

__all__ = [
    "ACTOR_KINDS",
    "AUDIT_COLUMNS",
    "CHAIN_LOCK_KEY",
    "CHANGE_ACTIONS",
    "DEFAULT_RETENTION_MONTHS",
    "MIN_RETENTION_MONTHS",
    "SEAL_LIMIT",
    "AuditActor",
    "AuditBuffer",
    "AuditSavepoint",
    "ChainReport",
    "SealNudge",
    "canonical_body",
    "content_hash",
    "flush",
    "group_rows",
    "link_hash",
    "maintain_partitions",
    "seal",
    "unsealed",
    "verify_chain",
]
