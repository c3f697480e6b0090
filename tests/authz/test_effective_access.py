"""`effectiveAccess` reads back the decision table the API enforces: on random policies it agrees, field by
field and scope by scope, with the property test's independent reference evaluator (tests/authz/test_property.py).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from authz.defaults import default_rules
from authz.effective import chain, effective_fields
from authz.fields import custom_field_spec
from authz.store import build_policy
from tests.authz.test_property import (
    CATEGORY,
    CONTACT_SCOPES,
    R,
    Reference,
    policies,
)
from tests.authz.test_property import Principal as RefPrincipal

PASSPORT = custom_field_spec("contact", "passportNo", "String", "government_id", None)
ROLE_SETS = [frozenset({"probe"}), frozenset({"probe", "sales"}), frozenset({"sales"}), frozenset({"marketing"}),
             frozenset({"manager"}), frozenset({"support"})]


@settings(max_examples=150, deadline=None)
@given(extra=policies(), roles=st.sampled_from(ROLE_SETS))
def test_effective_access_agrees_with_the_reference(extra: list[R], roles: frozenset[str]) -> None:
    defaults = [R(r.role, r.resource, r.action, r.effect.value, r.scope) for r in default_rules()]
    lines = [("p", [r.role, r.resource, r.action, r.effect, r.scope]) for r in [*defaults, *extra]]
    table = build_policy(1, lines, [PASSPORT]).table(roles)
    ref = Reference([*defaults, *extra], {}, extra)
    who = RefPrincipal("probe", "u1", "alpha", roles)
    listed = {a.field: a for a in effective_fields(table, "contact")}
    assert "passportNo" in listed and listed["passportNo"].custom  # custom fields are listed too
    for name in CATEGORY["contact"]:
        access = listed[name]
        assert access.pii_category == CATEGORY["contact"][name]
        read = access.read
        assert read[-1].scope == "all"
        fallback = read[-1].effect
        for entry in read[:-1]:
            expected = ref._field(who, "contact", name, lambda s, scope=entry.scope: s in (scope, "all"))
            assert entry.effect.value == expected, (name, entry, extra)
        assert fallback.value == ref._field(who, "contact", name, lambda s: s == "all"), (name, extra)
        listed_scopes = {e.scope for e in read}
        for scope in CONTACT_SCOPES:
            if scope not in listed_scopes:  # a scope that does not matter: a row in it gets the fallback
                got = ref._field(who, "contact", name, lambda s, scope=scope: s in (scope, "all"))
                assert got == fallback.value, (name, scope, extra)


def test_chain_is_the_tables_own_decision() -> None:
    """A narrower MASK over an `all` ALLOW: masked on own rows, clear elsewhere, as `FieldRuling.decide` says."""
    lines = [
        ("p", ["probe", "contact", "read", "allow", "all"]),
        ("p", ["probe", "contact.email", "read", "allow", "all"]),
        ("p", ["probe", "contact.email", "read", "mask", "own"]),
    ]
    table = build_policy(1, lines, []).table(frozenset({"probe"}))
    got = [(e.scope, e.effect.value) for e in chain(table.field("contact", "email"))]
    assert got == [("own", "mask"), ("all", "allow")]
    write = [(e.scope, e.effect.value) for e in chain(table.field("contact", "email", "write"))]
    assert write == [("all", "deny")]  # PII is not writable without a write rule
