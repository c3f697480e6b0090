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
