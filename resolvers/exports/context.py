"""What an export builder works with: the job, the requester as a Caller, a snapshot session, progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from db.files import FileStore
from db.models import ExportJob
from resolvers.exports.rows import Scope, Tally
from resolvers.runtime import Caller


class JobLost(Exception):
    """Another worker took the job over (its heartbeat went stale) or it was expired: stop, publish nothing."""


class ExportRefused(Exception):
    """The job cannot be done (the requester lost the permission, the contact is gone): FAILED, no retry."""


@dataclass
class Progress:
    """Rows done out of an estimate; the heartbeat task writes `fraction` to the job, the CLI draws it."""

    total: int = 1
    done: int = 0
    lost: bool = False
    delay_seconds: float = 0.0
    on_change: Callable[[float], None] | None = None

    @property
    def fraction(self) -> float:
        return min(0.99, self.done / max(self.total, 1))

    async def advance(self, rows: int) -> None:
        self.done += rows
        if self.lost:
            raise JobLost("the job was taken over or expired")
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.on_change is not None:
            self.on_change(self.fraction)


@dataclass
class Summary:
    """What left, for the EXPORT audit event and `record_count`."""

    records: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class ExportContext:
    job: ExportJob
    caller: Caller
    tally: Tally
    scope: Scope
    read: AsyncSession  # one REPEATABLE READ, read-only transaction: every file of the archive agrees
    store: FileStore
    progress: Progress
    batch: int
