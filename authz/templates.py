"""Role templates: the rule sets of the usual Hong Kong SME roles, which an admin copies into a new role
(`createRole(input: {fromTemplate})`), and the descriptions of the built-in roles.

A template is policy data only: copying it adds its rules under the new role's name, through the same
validation as `addPolicy`. Editing a template later changes no role made from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from authz.defaults import DEFAULT_ROLES
from authz.rules import Effect, Rule

ALLOW, MASK, DENY = Effect.ALLOW, Effect.MASK, Effect.DENY


@dataclass(frozen=True)
class RoleTemplate:
    name: str
    description: str
    rules: tuple[tuple[str, str, Effect, str], ...]  # (resource, action, effect, scope)

    def rules_for(self, role: str) -> list[Rule]:
        return [Rule(role, resource, action, effect, scope) for resource, action, effect, scope in self.rules]


TEMPLATES: tuple[RoleTemplate, ...] = (
    RoleTemplate(
        "front_desk",
        "Front desk / reception: reads every contact's names and contact details to greet and route people; "
        "never government ids (HKID, tax id) or financial data.",
        (
            ("contact", "read", ALLOW, "all"),
            ("pii:name", "read", ALLOW, "all"),
            ("pii:contact", "read", ALLOW, "all"),
            ("pii:government_id", "read", DENY, "all"),
            ("pii:financial", "read", DENY, "all"),
            ("user", "read", ALLOW, "all"),
            ("team", "read", ALLOW, "all"),
        ),
    ),
    RoleTemplate(
        "accountant",
        "Accountant / bookkeeper: reads and writes the financial fields of every contact, with names; "
        "government ids (HKID, tax id) only masked, never in clear.",
        (
            ("contact", "read", ALLOW, "all"),
            ("contact", "write", ALLOW, "all"),
            ("pii:name", "read", ALLOW, "all"),
            ("pii:financial", "read", ALLOW, "all"),
            ("pii:financial", "write", ALLOW, "all"),
            ("pii:government_id", "read", MASK, "all"),
        ),
    ),
    RoleTemplate(
        "dpo",
        "Data protection officer: works data access and correction requests (PDPO s.18, s.22): reads and "
        "writes data requests, reads the audit log and the PII inventory, exports contacts; the export made "
        "for a data request holds every field in clear, day-to-day reads show government ids masked.",
        (
            ("contact", "read", ALLOW, "all"),
            ("contact", "export", ALLOW, "all"),
            ("data_request", "read", ALLOW, "all"),
            ("data_request", "write", ALLOW, "all"),
            ("audit", "read", ALLOW, "all"),
            ("field_definition", "read", ALLOW, "all"),
            ("pii:name", "read", ALLOW, "all"),
            ("pii:contact", "read", ALLOW, "all"),
            ("pii:government_id", "read", MASK, "all"),
        ),
    ),
)
BY_NAME = {t.name: t for t in TEMPLATES}

BUILT_IN_DESCRIPTIONS: dict[str, str] = {
    "admin": "Everything, government ids in clear (PCPD Code of Practice on the ID card number: admins only).",
    "manager": "Every contact and activity, private notes included; government ids masked.",
    "sales": "Their own and their team's contacts; e-mail in clear on their own; salary, birth date and "
    "government ids masked.",
    "support": "Every contact's names and contact details, read-only; not the pipeline, private notes or "
    "government ids.",
    "marketing": "Only contacts with an active direct-marketing consent (Part 6A), and each channel's address "
    "only where that channel is consented.",
}
assert set(BUILT_IN_DESCRIPTIONS) == set(DEFAULT_ROLES)


def is_built_in(role: str) -> bool:
    return role in DEFAULT_ROLES
