"""The suppression list: keyed hashes of erased people's email, phone and HKID (DESIGN 7).

Only hashes are kept (`WorkspaceCipher.suppression_hash`, keyed per workspace), so the list cannot be read
back into identifiers. `createContact` with a suppressed value is refused with CONFLICT / `SUPPRESSED`
unless the caller may erase contacts (admins by default) and gives a reason; the override is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import LargeBinary, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.crypto import WorkspaceCipher
from db.models import Suppression
from resolvers.errors import BadInput, Conflict
from resolvers.runtime import Caller

# GraphQL field name -> suppression kind
KINDS: dict[str, str] = {"email": "email", "phone": "phone", "hkid": "hkid"}


def normalised(kind: str, value: str) -> str:
    """Values are already validated and normalised (E.164, canonical HKID); e-mail compares case-insensitively."""
    return value.strip().lower() if kind == "email" else value.strip()


def hashes(cipher: WorkspaceCipher, values: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """(kind, hash) for each suppressible identifier present in `values` (keyed by GraphQL field name)."""
    out = []
    for name, kind in KINDS.items():
        value = values.get(name)
        if isinstance(value, str) and value.strip():
            out.append((kind, cipher.suppression_hash(kind, normalised(kind, value))))
    return out


async def add(session: AsyncSession, contact_id: uuid.UUID, entries: Iterable[tuple[str, bytes]]) -> int:
    rows = [{"hash": h, "kind": kind, "contact_id": contact_id} for kind, h in entries]
    if not rows:
        return 0
    result = await session.execute(insert(Suppression).values(rows).on_conflict_do_nothing(index_elements=["hash"]))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def listed(session: AsyncSession, candidates: Iterable[bytes]) -> set[bytes]:
    """Which of these hashes (`hashes`, of many rows at once) are on the list: one query for a whole batch."""
    wanted = list(set(candidates))
    if not wanted:
        return set()
    # One array parameter, not one bind parameter per hash: the same prepared statement for every batch.
    candidates_param = bindparam("hashes", wanted, type_=ARRAY(LargeBinary))
    return set((await session.execute(
        select(Suppression.hash).where(Suppression.hash == any_(candidates_param)))).scalars())


def refusal(kinds: Iterable[str]) -> Conflict:
    """The CONFLICT / `SUPPRESSED` error for a value of these kinds on the list (no override given)."""
    found = set(kinds)
    ordered = [kind for kind in KINDS.values() if kind in found]
    return Conflict(
        f"this person's {', '.join(ordered)} is on the suppression list (erased earlier); "
        "an administrator may override with a reason",
        field=ordered[0],
        detail="SUPPRESSED",
    )


async def check(
    session: AsyncSession,
    caller: Caller,
    contact_id: uuid.UUID,
    values: Mapping[str, Any],
    override_reason: str | None,
) -> None:
    """Refuse a new contact whose email, phone or HKID was erased before, unless overridden with a reason."""
    entries = hashes(caller.tenant.cipher, values)
    if not entries:
        return
    matched = set(
        (
            await session.execute(select(Suppression.kind).where(Suppression.hash.in_([h for _, h in entries])))
        ).scalars()
    )
    if not matched:
        return
    kinds = [kind for kind in KINDS.values() if kind in matched]
    if override_reason is None:
        raise refusal(kinds)
    reason = override_reason.strip()
    if not reason:
        raise BadInput("an override needs a reason", field="suppressionOverride")
    caller.access.require(Resource.CONTACT, Action.ERASE)
    caller.audit.event(
        "UPDATE",
        entity_type="suppression",
        entity_id=str(contact_id),
        details={"override": True, "matched": kinds, "reason": reason[:500]},
    )
