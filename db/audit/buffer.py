"""The request-scoped audit buffer: who acts (`AuditActor`), the events it collects, savepoints, rows."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.models.base import utcnow

# `link`: whoever holds a signed export download link (no sign-in); the row's address and user agent say who.
# Events that describe a change to the database: gone with it when the request's transaction is rolled back.
CHANGE_ACTIONS = frozenset({"CREATE", "UPDATE", "DELETE", "ERASE", "EXPORT", "POLICY_CHANGE"})
ACTOR_KINDS = frozenset({"user", "api_key", "support", "system", "link"})
_ACTION_RE = re.compile(r"^[A-Z][A-Z_]{0,15}$")
_MAX_ENTITY_TYPE = 32
_MAX_ENTITY_ID = 64
_MAX_REQUEST_ID = 64
_MAX_CLIENT_IP = 64
_MAX_USER_AGENT = 300


@dataclass(frozen=True)
class AuditActor:
    """Who and where: the same for a whole request."""

    actor_id: uuid.UUID | None
    actor_kind: str  # user | api_key | support | system | link
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    policy_version: int | None = None

    def __post_init__(self) -> None:
        if self.actor_kind not in ACTOR_KINDS:
            raise ValueError(f"unknown actor kind {self.actor_kind!r}")


@dataclass
class _Event:
    id: uuid.UUID | None  # None until `rows()`: most READ events are grouped into a row that keeps one id
    occurred_at: datetime
    action: str
    entity_type: str | None
    entity_id: str | None
    fields: dict[str, None]  # an ordered set
    categories: dict[str, None]
    details: dict[str, Any] | None


def _new_ids(count: int) -> list[uuid.UUID]:
    """Random (version 4) ids, from one read of the system's random source."""
    random = os.urandom(16 * count)
    return [uuid.UUID(bytes=random[16 * i : 16 * i + 16], version=4) for i in range(count)]


def _assign_ids(events: list[_Event]) -> None:
    missing = [e for e in events if e.id is None]
    for event, new in zip(missing, _new_ids(len(missing)), strict=True):
        event.id = new


def with_ids(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """`rows` (from `AuditBuffer.rows(ids=False)`, grouped or not) with an id in every row that has none."""
    missing = [i for i, row in enumerate(rows) if row[0] is None]
    for i, new in zip(missing, _new_ids(len(missing)), strict=True):
        rows[i] = (new, *rows[i][1:])
    return rows


def _names(values: Iterable[str]) -> Iterable[str]:
    # A bare string is one name, not a sequence of one-letter names.
    return (values,) if isinstance(values, str) else values


def _clip(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]


def _details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    # A JSON copy: later changes to the caller's dict do not leak in, and what is hashed at flush time is
    # exactly what JSONB gives back (string keys, lists, no NaN). Uuids and datetimes become strings.
    if details is None:
        return None
    return json.loads(json.dumps(details, default=str, allow_nan=False))


@dataclass(frozen=True)
class AuditSavepoint:
    count: int
    reads: list[tuple[_Event, dict[str, None], dict[str, None]]]


class AuditBuffer:
    """Request-scoped: collects events; READ and DENIED events merge per (entity_type, entity_id).

    `actor` may be replaced while the request runs (it learns its actor or policy version late): the actor
    in place when `rows()` is called (at flush) applies to every event. `occurred_at` is the clock's time of
    the first call that created the event.
    """

    def __init__(self, actor: AuditActor, clock: Callable[[], datetime] = utcnow) -> None:
        self.actor = actor
        self._clock = clock
        self._events: list[_Event] = []
        self._reads: dict[tuple[str, str], _Event] = {}
        self._denials: dict[tuple[str | None, str], _Event] = {}

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the audit clock must return timezone-aware datetimes")
        return now

    def _new(
        self,
        action: str,
        entity_type: str | None,
        entity_id: str | None,
        fields: Iterable[str],
        categories: Iterable[str],
        details: dict[str, Any] | None,
    ) -> _Event:
        if not _ACTION_RE.match(action):
            raise ValueError(f"audit action must be an upper-case name of at most 16 characters: {action!r}")
        if entity_type is not None and len(entity_type) > _MAX_ENTITY_TYPE:
            raise ValueError(f"entity_type longer than {_MAX_ENTITY_TYPE} characters: {entity_type!r}")
        if entity_id is not None and len(entity_id) > _MAX_ENTITY_ID:
            raise ValueError(f"entity_id longer than {_MAX_ENTITY_ID} characters: {entity_id!r}")
        event = _Event(
            id=uuid.uuid4(),
            occurred_at=self._now(),
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            fields=dict.fromkeys(str(f) for f in _names(fields)),
            categories=dict.fromkeys(str(c) for c in _names(categories)),
            details=_details(details),
        )
        self._events.append(event)
        return event

    def now(self) -> datetime:
        """The buffer's clock: for a caller recording many reads at one moment (`read(..., at=now)`)."""
        return self._now()

    def read(self, entity_type: str, entity_id: str, fields: Iterable[str], categories: Iterable[str],
             at: datetime | None = None) -> None:
        """Record that fields of one record were read; one READ event per record, fields/categories unioned.
        `at` (from `now()`) is the event's time if it is new, instead of reading the clock again."""
        key = (entity_type, str(entity_id))
        existing = self._reads.get(key)
        if existing is None:
            if len(key[1]) > _MAX_ENTITY_ID or len(entity_type) > _MAX_ENTITY_TYPE:
                raise ValueError(f"entity type or id too long: {entity_type!r} {key[1]!r}")
            # The hot path (one call per record returned): no generic validation, names taken as given.
            event = _Event(None, at or self._now(), "READ", entity_type, key[1], dict.fromkeys(_names(fields)),
                           dict.fromkeys(_names(categories)), None)
            self._events.append(event)
            self._reads[key] = event
            return
        existing.fields.update(dict.fromkeys(str(f) for f in _names(fields)))
        existing.categories.update(dict.fromkeys(str(c) for c in _names(categories)))

    def denied(
        self,
        entity_type: str | None,
        entity_id: str | None,
        fields: Iterable[str],
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record refused access: one DENIED event per record naming the denied fields (merged like `read`,
        details shallow-merged, later keys win). `entity_id=None` records a refused operation: one event per
        call, `fields` may be empty and `details` says what was refused (e.g. {"operation": "addPolicy"})."""
        if entity_id is None:
            self._new("DENIED", entity_type, None, fields, (), details)
            return
        key = (entity_type, str(entity_id))
        existing = self._denials.get(key)
        if existing is None:
            self._denials[key] = self._new("DENIED", entity_type, key[1], fields, (), details)
            return
        existing.fields.update(dict.fromkeys(str(f) for f in _names(fields)))
        more = _details(details)
        if more:
            existing.details = {**(existing.details or {}), **more}

    def event(
        self,
        action: str,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        fields: Iterable[str] = (),
        categories: Iterable[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        """Any other action (CREATE, UPDATE, DELETE, ERASE, EXPORT, POLICY_CHANGE, LOGIN, LOGIN_FAILED, ...):
        one row per call. `details` is for identifiers and reasons, never for field values."""
        self._new(action, entity_type, None if entity_id is None else str(entity_id), fields, categories, details)

    def savepoint(self) -> AuditSavepoint:
        """The buffer's state, to restore with `rollback_to` when the work that follows is rolled back."""
        return AuditSavepoint(
            len(self._events), [(e, dict(e.fields), dict(e.categories)) for e in self._reads.values()]
        )

    def rollback_to(self, mark: AuditSavepoint) -> None:
        """Forget what was recorded since `mark` (its changes were rolled back, its reads returned nothing),
        except DENIED events: refused attempts stay recorded."""
        later = self._events[mark.count :]
        del self._events[mark.count :]
        for event in later:
            if event.action == "DENIED":
                self._events.append(event)
            elif event.action == "READ":
                self._reads.pop((event.entity_type or "", event.entity_id or ""), None)
        for event, fields, categories in mark.reads:
            event.fields, event.categories = fields, categories

    def __len__(self) -> int:
        return len(self._events)

    def discard(self, actions: Collection[str]) -> None:
        """Forget every event of these actions: the changes they describe were rolled back (`CHANGE_ACTIONS`),
        or the values they name never left (READ, when the response carries no data)."""
        self._events = [e for e in self._events if e.action not in actions]
        if "READ" in actions:
            self._reads.clear()
        if "DENIED" in actions:
            self._denials.clear()

    def clear(self) -> None:
        self._events.clear()
        self._reads.clear()
        self._denials.clear()

    def rows(self, *, ids: bool = True) -> list[tuple[Any, ...]]:
        """The buffered events as `audit_events` rows (column order of `AUDIT_COLUMNS`, batch_seq None). With
        `ids=False`, READ events not given an id yet have None: `with_ids` gives them one after grouping (most
        are grouped into a row that keeps one id)."""
        if ids:
            _assign_ids(self._events)
        actor = self.actor
        request_id = _clip(actor.request_id, _MAX_REQUEST_ID)
        client_ip = _clip(actor.client_ip, _MAX_CLIENT_IP)
        user_agent = _clip(actor.user_agent, _MAX_USER_AGENT)
        return [
            (
                e.id,
                e.occurred_at,
                actor.actor_id,
                actor.actor_kind,
                e.action,
                e.entity_type,
                e.entity_id,
                list(e.fields),
                list(e.categories),
                request_id,
                client_ip,
                user_agent,
                actor.policy_version,
                None if e.details is None else dict(e.details),
                None,
            )
            for e in self._events
        ]

