"""Who is calling: a user, a partner API key, a support engineer or the system itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

ActorKind = Literal["user", "api_key", "support", "system"]


@dataclass(frozen=True)
class Principal:
    kind: ActorKind
    id: uuid.UUID | None
    roles: frozenset[str]
    team_id: uuid.UUID | None = None
    label: str = ""
    grant_id: uuid.UUID | None = field(default=None, compare=False)
    session_id: uuid.UUID | None = field(default=None, compare=False)  # a user's sign-in session

    @property
    def user_id(self) -> uuid.UUID | None:
        """The id that `own` scopes compare with (only people own records)."""
        return self.id if self.kind == "user" else None

    @property
    def subject(self) -> str:
        """The Casbin subject of this principal."""
        return f"{self.kind}:{self.id}"


SYSTEM = Principal(kind="system", id=None, roles=frozenset({"system"}), label="system")
