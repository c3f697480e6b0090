"""The demo workspace: one user per default role and plausible Hong Kong sample data (seeded once)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Activity, Consent, Contact, Team, User, WorkspaceSettings
from db.queries import contacts as contact_q
from db.tenancy import Tenant, TenantDirectory
from db.units import Units
from resolvers import policies
from resolvers.contacts.validation import hkid_check_digit
from resolvers.identity import accounts as identity
from resolvers.workspaces import create as workspaces

SLUG = "demo"
PASSWORD = "demo-password-2026"
DEMO_USERS = (  # role, label, team
    ("admin", "admin", None),
    ("manager", "manager", None),
    ("sales", "sales.kowloon", "Kowloon"),
    ("sales", "sales.island", "Hong Kong Island"),
    ("support", "support", None),
    ("marketing", "marketing", None),
)
SURNAMES = ("Chan", "Wong", "Lee", "Cheung", "Lau", "Ho", "Ng", "Leung", "Tsang", "Yip", "Lam", "Kwok", "Mak", "Tam")
GIVEN = ("Tai Man", "Siu Ming", "Ka Yan", "Wing Sze", "Chi Keung", "Mei Ling", "Ho Yin", "Hiu Tung", "Kin Wai",
         "Yuen Ting", "Emily", "Jason", "Karen", "Raymond", "Vivian", "Kelvin")
COMPANIES = ("Harbour Logistics Ltd", "Victoria Peak Trading", "Kowloon Bay Foods", "Lantau Travel",
             "Central Capital Partners", "Tsim Sha Tsui Optical", "Sai Kung Seafood", None)
TITLES = ("Director", "Purchasing Manager", "Owner", "Office Manager", "CFO", None)
NOTES = ("Called about the renewal; wants a quote by Friday.", "Met at the HKTDC fair.",
         "Asked to be contacted on WhatsApp only.", "Purchase of the premium plan.", "Follow-up meeting in Central.")


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


def logins() -> list[DemoLogin]:
    return [DemoLogin(role, f"{label}@demo.example.com", PASSWORD) for role, label, _ in DEMO_USERS]


async def ensure_demo(directory: TenantDirectory) -> Tenant:
    """Create and seed the demo workspace, or reuse it as it is."""
    tenant = await directory.get(SLUG)
    if tenant is not None:
        return tenant
    admin = logins()[0]
    tenant = await workspaces.create_workspace(directory, workspaces.NewWorkspace(
        SLUG, "Demo Trading Co.", next(iter(directory.regions)), admin.email, PASSWORD, "Ada Admin"))
    async with Units(directory).workspace(tenant.engine) as unit:
        await _seed(unit.session, tenant)
    return tenant


DEMO_SETTINGS = {  # named in the privacy notice, the reply letters and the copies
    "business_name": "Demo Trading Co. Limited",
    "dpo_name": "Ms Chan Mei Ling, Data Protection Officer",
    "dpo_email": "dpo@demo.example.com",
    "dpo_phone": "+85221234567",
    "dpo_address": "12/F, 88 Queen's Road Central, Central, Hong Kong",
}


async def _seed(session: AsyncSession, tenant: Tenant) -> None:
    rnd = random.Random(852)
    settings = await session.get(WorkspaceSettings, 1)
    if settings is None:
        settings = WorkspaceSettings(id=1, time_zone="Asia/Hong_Kong")
        session.add(settings)
    for column, value in DEMO_SETTINGS.items():
        setattr(settings, column, value)
    policy = policies.build_policy(1, await policies.q.load_policy_lines(session), [])
    teams: dict[str, uuid.UUID] = {}
    for name in {t for _, _, t in DEMO_USERS if t}:
        teams[name] = uuid.uuid4()
        session.add(Team(id=teams[name], name=name))
    await session.flush()
    users: dict[str, uuid.UUID] = {}
    for (role, label, team), login in zip(DEMO_USERS[1:], logins()[1:], strict=True):
        user = await identity.insert_user(session, None, identity.NewUser(
            login.email, PASSWORD, label.replace(".", " ").title(), [role], teams.get(team) if team else None),
            policy=policy)
        users[label] = user.id
    admin_id = await session.scalar(select(User.id).where(User.email == logins()[0].email))
    owners = [users["sales.kowloon"], users["sales.island"], users["manager"], admin_id]
    now = datetime.now(UTC)
    contact_rows, activity_rows, consent_rows = [], [], []
    for i in range(200):
        cid = uuid.uuid4()
        owner = owners[i % len(owners)]
        team_id = teams["Kowloon"] if owner == users["sales.kowloon"] else (
            teams["Hong Kong Island"] if owner == users["sales.island"] else None)
        surname, given = rnd.choice(SURNAMES), rnd.choice(GIVEN)
        letter, digits = rnd.choice("ACDEGHKPRVYZ"), f"{rnd.randrange(10**6):06d}"
        values = {
            "firstName": given, "lastName": surname,
            "email": f"{given.split()[0].lower()}.{surname.lower()}{i}@example.hk",
            "phone": f"+852{rnd.choice('569')}{rnd.randrange(10**7):07d}",
            "hkid": f"{letter}{digits}({hkid_check_digit(letter, digits)})" if i % 3 == 0 else None,
            "dateOfBirth": date(1950 + rnd.randrange(55), rnd.randrange(1, 13), rnd.randrange(1, 28)),
            "salary": rnd.randrange(15, 150) * 1000 if i % 2 == 0 else None,
            "company": rnd.choice(COMPANIES), "jobTitle": rnd.choice(TITLES),
            "stage": rnd.choice(("LEAD", "PROSPECT", "CUSTOMER", "COLD")), "vip": i % 11 == 0,
            "owner": owner, "team": team_id,
        }
        created = now - timedelta(days=rnd.randrange(900), minutes=i)
        contact_rows.append({"id": cid, "custom_fields": {}, "created_at": created, "updated_at": created,
                             "last_activity_at": created + timedelta(days=28),
                             **contact_q.encode(values, cid, tenant.cipher)})
        if i % 4 == 0:
            consent_rows.append({"id": uuid.uuid4(), "contact_id": cid, "purpose": "email", "granted": True,
                                 "source": "web form", "notice_version": "2026-01", "granted_at": created})
        for j in range(5):
            author = owner if j % 2 == 0 else rnd.choice(list(users.values()))
            kind = rnd.choice(("EMAIL", "WHATSAPP", "CALL", "MEETING", "NOTE", "PURCHASE"))
            activity_rows.append({
                "id": uuid.uuid4(), "contact_id": cid, "kind": kind, "subject": f"{kind.title()} with {given}",
                "body": rnd.choice(NOTES), "private": kind == "NOTE" and j % 2 == 1, "author_id": author,
                "amount_cents": rnd.randrange(1000, 500000) if kind == "PURCHASE" else None,
                "occurred_at": created + timedelta(days=j * 7), "created_at": created + timedelta(days=j * 7),
            })
    await session.execute(insert(Contact), contact_rows)
    await session.execute(insert(Activity), activity_rows)
    await session.execute(insert(Consent), consent_rows)
