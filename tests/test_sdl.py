"""The checked-in SDL is the running schema (regenerate with `python -m schema`)."""

from pathlib import Path

from schema.root import sdl


def test_checked_in_sdl_matches_the_running_schema() -> None:
    checked_in = (Path(__file__).resolve().parent.parent / "schema" / "schema.graphql").read_text()
    assert checked_in == sdl(), "schema/schema.graphql is stale: run `python -m schema`"


def test_every_permission_named_in_a_description_exists() -> None:
    """A description's "Requires `resource action`" names a real permission (no drift from authz)."""
    import re

    from authz.permissions import Action, Resource

    named = re.findall(r"Requires `(\w+) (\w+)`", sdl())
    assert len(named) >= 30
    unknown = [(r, a) for r, a in named if r not in set(Resource) or a not in set(Action)]
    assert unknown == []


def test_admin_operations_name_their_permission() -> None:
    from graphql import build_schema

    schema = build_schema(sdl())
    wanted = {
        "Query": ("fieldDefinitions", "piiInventory", "retentionPolicies", "auditEvents", "accessReport",
                  "exposureReport", "auditChain", "auditRetentionMonths", "supportGrants", "disclosures"),
        "Mutation": ("defineCustomField", "tagField", "removeCustomField", "createRetentionPolicy",
                     "setRetentionPolicyEnabled", "runRetention", "setLegalHold", "setAuditRetention",
                     "requestWorkspaceExport", "closeWorkspace", "grantSupportAccess", "revokeSupportAccess"),
    }
    missing = [
        f"{kind}.{name}" for kind, names in wanted.items() for name in names
        if "Requires `" not in (schema.get_type(kind).fields[name].description or "")  # type: ignore[union-attr]
    ]
    assert missing == []


# The operations any caller may use: their descriptions say so in words instead of naming a permission.
EXEMPT = {
    "Query": {"node", "me", "roles", "workspace", "exportJob", "exportJobs"},
    "Mutation": {"login", "logout", "refreshSession", "changePassword", "requestPasswordReset", "resetPassword",
                 "enrollMfa", "confirmMfa"},
}


def test_every_operation_names_its_permission_or_says_who_may_use_it() -> None:
    """Every Query and Mutation field of the live schema: "Requires `resource action`" with a real permission, or
    one of the exemption phrases (and only the operations listed in EXEMPT may use those)."""
    import re

    from authz.permissions import EXEMPTIONS, Action, Resource
    from schema.root import build_schema

    live = build_schema()._schema
    problems: list[str] = []
    exempted: dict[str, set[str]] = {"Query": set(), "Mutation": set()}
    for kind in ("Query", "Mutation"):
        root = live.get_type(kind)
        assert root is not None
        fields = root.fields  # type: ignore[attr-defined]
        assert len(fields) > 20
        for name, definition in fields.items():
            text = " ".join((definition.description or "").split())
            named = re.findall(r"Requires `(\w+) (\w+)`", text)
            real = [(r, a) for r, a in named if r in set(Resource) and a in set(Action)]
            if len(real) != len(named):
                problems.append(f"{kind}.{name}: names an unknown permission: {named}")
            elif any(phrase in text for phrase in EXEMPTIONS):
                exempted[kind].add(name)
            elif not real:
                problems.append(f"{kind}.{name}: says neither which permission it needs nor who may use it")
    assert problems == []
    assert exempted == EXEMPT


def test_record_operations_say_that_the_record_scope_filters_them() -> None:
    from graphql import build_schema

    schema = build_schema(sdl())
    for kind, name, permission in (("Query", "contacts", "contact read"), ("Query", "contact", "contact read"),
                                   ("Query", "activities", "activity read"),
                                   ("Mutation", "updateContact", "contact write")):
        text = " ".join((schema.get_type(kind).fields[name].description or "").split())  # type: ignore[union-attr]
        assert f"Requires `{permission}`; filtered by your record scope." in text, (kind, name)
