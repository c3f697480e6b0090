"""A small world for the permission suites: teams, one user per role, contacts with every PII field set,
consents in three states and activities (private and not, on VIP and ordinary contacts).

Everything is created through the public GraphQL API as the workspace admin or as the users themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

# Every contact field a client can read, except `stage` (non-null: denying it nulls the whole node, so it
# is asked for on its own) and the relations.
CONTACT_FIELDS = (
    "id firstName lastName email phone hkid taxId dateOfBirth dateOfBirthMasked linkedinUrl bio "
    "salary salaryMasked company jobTitle vip"
)
PII_FIELDS = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "hkid",
    "taxId",
    "dateOfBirth",
    "linkedinUrl",
    "bio",
    "salary",
)

# label -> (owner label, team name, input fields); phone numbers and HKIDs are valid, values all distinct.
CONTACT_DATA: dict[str, tuple[str, str, dict[str, Any]]] = {
    "own": (
        "sales1",
        "alpha",
        {
            "firstName": "Olivia",
            "lastName": "Owner",
            "email": "olivia@own.example.com",
            "phone": "9123 4567",
            "hkid": "A123456(3)",
            "taxId": "TX0000001OWN",
            "dateOfBirth": "1985-03-02",
            "linkedinUrl": "https://www.linkedin.com/in/olivia",
            "bio": "Prefers green tea",
            "salary": 45000,
            "company": "Own Trading Ltd",
            "jobTitle": "CFO",
            "vip": True,
        },
    ),
    "team": (
        "sales2",
        "alpha",
        {
            "firstName": "Terry",
            "lastName": "Teammate",
            "email": "terry@team.example.com",
            "phone": "9234 5678",
            "hkid": "B234567(1)",
            "taxId": "TX0000002TEA",
            "dateOfBirth": "1990-07-15",
            "linkedinUrl": "https://www.linkedin.com/in/terry",
            "bio": "Collects stamps",
            "salary": 52000,
            "company": "Team Logistics",
            "jobTitle": "COO",
            "vip": False,
        },
    ),
    "other": (
        "sales3",
        "beta",
        {
            "firstName": "Oscar",
            "lastName": "Other",
            "email": "oscar@other.example.com",
            "phone": "6345 6789",
            "hkid": "C345678(A)",
            "taxId": "TX0000003OTH",
            "dateOfBirth": "1978-11-30",
            "linkedinUrl": "https://www.linkedin.com/in/oscar",
            "bio": "Sails on weekends",
            "salary": 130000,
            "company": "Other Holdings",
            "jobTitle": "CEO",
            "vip": False,
        },
    ),
    "consented": (
        "sales3",
        "beta",
        {
            "firstName": "Connie",
            "lastName": "Consent",
            "email": "connie@consent.example.com",
            "phone": "9456 7890",
            "hkid": "D456789(8)",
            "taxId": "TX0000004CON",
            "dateOfBirth": "1995-01-20",
            "linkedinUrl": "https://www.linkedin.com/in/connie",
            "bio": "Runs marathons",
            "salary": 38000,
            "company": "Consent Foods",
            "jobTitle": "Buyer",
            "vip": False,
        },
    ),
    "withdrawn": (
        "sales3",
        "beta",
        {
            "firstName": "Wendy",
            "lastName": "Withdrawn",
            "email": "wendy@withdrawn.example.com",
            "phone": "9567 8901",
            "hkid": "E567890(4)",
            "taxId": "TX0000005WIT",
            "dateOfBirth": "1982-05-05",
            "linkedinUrl": "https://www.linkedin.com/in/wendy",
            "bio": "Plays mahjong",
            "salary": 61000,
            "company": "Withdrawn Design",
            "jobTitle": "Designer",
            "vip": False,
        },
    ),
    "expired": (
        "sales3",
        "beta",
        {
            "firstName": "Eddie",
            "lastName": "Expired",
            "email": "eddie@expired.example.com",
            "phone": "9678 9012",
            "hkid": "G678901(2)",
            "taxId": "TX0000006EXP",
            "dateOfBirth": "1970-09-09",
            "linkedinUrl": "https://www.linkedin.com/in/eddie",
            "bio": "Keeps bees",
            "salary": 700000,
            "company": "Expired Media",
            "jobTitle": "Editor",
            "vip": False,
        },
    ),
}
# How the API stores (and returns in clear) what was given.
NORMALISED_PHONES = {
    "9123 4567": "+85291234567",
    "9234 5678": "+85292345678",
    "6345 6789": "+85263456789",
    "9456 7890": "+85294567890",
    "9567 8901": "+85295678901",
    "9678 9012": "+85296789012",
}

USERS: dict[str, tuple[list[str], str | None]] = {
    "manager": (["manager"], "alpha"),
    "sales1": (["sales"], "alpha"),
    "sales2": (["sales"], "alpha"),
    "sales3": (["sales"], "beta"),
    "support": (["support"], None),
    "marketing": (["marketing"], None),
}

# label -> (author label or "admin", contact label, private, subject)
ACTIVITY_DATA: dict[str, tuple[str, str, bool, str]] = {
    "own_private": ("sales1", "own", True, "My own private note"),
    "other_private_vip": ("sales2", "own", True, "Colleague's private note on a VIP"),
    "other_private_nonvip": ("sales2", "team", True, "Colleague's private note, not VIP"),
    "public_own": ("admin", "own", False, "Public call with Olivia"),
    "public_other": ("admin", "other", False, "Public meeting with Oscar"),
}


def clear_value(label: str, name: str) -> Any:
    """The value of a PII or plain field as the API returns it in clear."""
    value = CONTACT_DATA[label][2][name]
    return NORMALISED_PHONES[value] if name == "phone" else value


@dataclass
class World:
    ws: Workspace
    contacts: dict[str, str] = field(default_factory=dict)  # label -> global id
    activities: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str:
        return self.ws.admin_token if who == "admin" else self.ws.users[who]["token"]

    def label_of(self, contact_id: str) -> str:
        return {v: k for k, v in self.contacts.items()}[contact_id]

    def activity_label(self, activity_id: str) -> str:
        return {v: k for k, v in self.activities.items()}[activity_id]


async def record_consent(gql: GraphQLClient, ws: Workspace, contact_id: str, granted: bool, **extra: Any) -> None:
    await gql.ok(
        "mutation($c:ID!,$g:Boolean!,$e:DateTime){recordConsent(contactId:$c,purpose:EMAIL,granted:$g,"
        'source:"web form",expiresAt:$e){id}}',
        {"c": contact_id, "g": granted, "e": extra.get("expiresAt")},
        ws.admin_token,
    )


async def build_world(workspaces: WorkspaceFactory, gql: GraphQLClient) -> World:
    ws = await workspaces.create()
    world = World(ws)
    for label, (roles, team) in USERS.items():
        await ws.user(label, roles, team)
    for label, (owner, team, data) in CONTACT_DATA.items():
        world.contacts[label] = await ws.contact(ownerId=ws.users[owner]["id"], teamId=await ws.team(team), **data)
    await record_consent(gql, ws, world.contacts["consented"], True)
    await record_consent(gql, ws, world.contacts["withdrawn"], True)
    await record_consent(gql, ws, world.contacts["withdrawn"], False)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await record_consent(gql, ws, world.contacts["expired"], True, expiresAt=past)
    for label, (author, contact, private, subject) in ACTIVITY_DATA.items():
        data = await gql.ok(
            "mutation($i:ActivityInput!){createActivity(input:$i){id}}",
            {
                "i": {
                    "contactId": world.contacts[contact],
                    "kind": "NOTE",
                    "subject": subject,
                    "body": f"body of {label}",
                    "private": private,
                }
            },
            world.token(author),
        )
        world.activities[label] = data["createActivity"]["id"]
    return world


def redactions(body: dict[str, Any]) -> dict[str, int]:
    """Every FORBIDDEN list summary of a response, as {path pattern: count}."""
    out: dict[str, int] = {}
    for error in body.get("errors") or []:
        for item in error.get("extensions", {}).get("redactions", []):
            out[item["path"]] = out.get(item["path"], 0) + item["count"]
    return out


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]
