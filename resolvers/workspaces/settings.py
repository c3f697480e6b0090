"""Workspace settings a person reads in letters, notices and copies: the business's name, its data protection
officer (who handles access and correction requests, and how to reach them), and the workspace's time zone
(Asia/Hong_Kong by default), in which every date a person reads is written.

Reading needs `workspace read`; `updateWorkspaceSettings` needs `workspace write` (admins by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import WorkspaceSettings
from resolvers.contacts.validation import InvalidValue, normalize_email, normalize_name, normalize_phone, normalize_text
from resolvers.errors import BadInput
from resolvers.runtime import Caller

DEFAULT_TIME_ZONE = "Asia/Hong_Kong"
RESOURCE = "workspace"


@dataclass(frozen=True)
class Settings:
    business_name: str
    dpo_name: str | None
    dpo_email: str | None
    dpo_phone: str | None
    dpo_address: str | None
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    @property
    def dpo_phone_display(self) -> str | None:
        """The DPO's phone as a person writes it (+852 2123 4567); stored in E.164."""
        if not self.dpo_phone:
            return None
        try:
            number = phonenumbers.parse(self.dpo_phone, None)
        except phonenumbers.NumberParseException:
            return self.dpo_phone
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


async def _row(session: AsyncSession) -> WorkspaceSettings:
    row = await session.get(WorkspaceSettings, 1)
    if row is None:  # a database migrated before the row existed
        row = WorkspaceSettings(id=1, time_zone=DEFAULT_TIME_ZONE)
        session.add(row)
        await session.flush()
    return row


async def load(session: AsyncSession, fallback_name: str) -> Settings:
    """The settings as letters use them (no permission check: callers are the workspace's own documents)."""
    row = await _row(session)
    return Settings(row.business_name or fallback_name, row.dpo_name, row.dpo_email, row.dpo_phone, row.dpo_address,
                    row.time_zone or DEFAULT_TIME_ZONE)


async def peek(session: AsyncSession, fallback_name: str) -> Settings:
    """As `load`, without writing: for read-only sessions (an export's snapshot). No row: the defaults."""
    row = await session.get(WorkspaceSettings, 1)
    if row is None:
        return Settings(fallback_name, None, None, None, None, DEFAULT_TIME_ZONE)
    return Settings(row.business_name or fallback_name, row.dpo_name, row.dpo_email, row.dpo_phone, row.dpo_address,
                    row.time_zone or DEFAULT_TIME_ZONE)


async def get(session: AsyncSession, caller: Caller) -> Settings:
    caller.access.require(RESOURCE, "read")
    return await load(session, caller.tenant.name)


def _clean(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        if name == "dpoEmail":
            return normalize_email(value)
        if name == "dpoPhone":
            return normalize_phone(value)
        if name == "dpoAddress":
            return normalize_text(value.strip(), 1000)
        return normalize_name(value)
    except InvalidValue as exc:
        raise BadInput(f"{name}: {exc}", field=name) from exc


async def update(session: AsyncSession, caller: Caller, given: dict[str, str | None]) -> Settings:
    """Changes only the settings given; an explicit null (or blank) clears one (the time zone goes back to the
    default)."""
    caller.access.require(RESOURCE, "write")
    row = await _row(session)
    columns = {"businessName": "business_name", "dpoName": "dpo_name", "dpoEmail": "dpo_email",
               "dpoPhone": "dpo_phone", "dpoAddress": "dpo_address"}
    for name, column in columns.items():
        if name in given:
            setattr(row, column, _clean(name, given[name]))
    if "timeZone" in given:
        zone = (given["timeZone"] or "").strip() or DEFAULT_TIME_ZONE
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadInput("timeZone is an IANA time zone such as Asia/Hong_Kong", field="timeZone") from exc
        if zone not in available_timezones():
            raise BadInput("timeZone is an IANA time zone such as Asia/Hong_Kong", field="timeZone")
        row.time_zone = zone
    row.updated_at = caller.runtime.now()
    await session.flush()
    caller.audit.event("UPDATE", entity_type="workspace_settings", entity_id=caller.tenant.slug,
                       fields=sorted(given))
    return await load(session, caller.tenant.name)
