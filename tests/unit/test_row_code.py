"""The generated row function of `resolvers.reads.row_code`: each step kind's values, denied names and audit
events, and names from the registry that could never be code (quotes, newlines, a closing brace) kept as data.
The compiled path as a whole is held to the executor's bytes in tests/api/test_compiled_reads.py."""

from __future__ import annotations

import uuid
from typing import Any

from db.audit import AuditActor, AuditBuffer
from resolvers.projection import CUSTOM_FIELDS, DENIED
from resolvers.reads.projection import Step
from resolvers.reads.row_code import ALLOW, ALLOW_CUSTOM, DENY, MASK, MASK_CUSTOM, MASK_TEXT, row_function

ODD = 'x"}\n    raise SystemExit(1)\n#'  # a custom field's name as an admin could type it


def _step(kind: int, name: str, index: int, *, audited: str | None = None, custom: bool = False,
          deny_value: Any = None, companion: Any = None) -> Step:
    return Step(kind=kind, name=name, read=lambda row, rid: row[index], mask=lambda v: f"<{v}>",
                audited=audited, category="cat-" + name if audited else None, denied_as="d." + name,
                deny_value=deny_value, custom=custom, shown=True, companion=companion)


def _project(steps: list[Step], row: tuple[Any, ...], *, wants_custom: bool = False,
             plain: dict[str, int] | None = None) -> tuple[Any, AuditBuffer]:
    audit = AuditBuffer(AuditActor(actor_id=None, actor_kind="user"))
    function = row_function("contact", 0, wants_custom, steps, lambda step: (plain or {}).get(step.name))
    return function(row, audit.read, audit.denied, audit.now()), audit


def _events(audit: AuditBuffer) -> list[tuple[Any, ...]]:
    return [(r[4], r[6], r[7], r[8]) for r in audit.rows()]


def test_every_kind_of_step_gives_its_value_in_step_order() -> None:
    rid = uuid.uuid4()
    steps = [
        _step(ALLOW, "email", 1, audited="email", companion=lambda v: "m:" + v),
        _step(MASK, "hkid", 2, audited="hkid"),
        _step(MASK_TEXT, "salary", 3, audited="salary"),
        _step(DENY, "taxId", 4),
        _step(ALLOW_CUSTOM, "tier", 5, custom=True),
        _step(MASK_CUSTOM, ODD, 6, custom=True, audited=ODD),
        _step(ALLOW, "company", 7),
    ]
    record, audit = _project(steps, (rid, "a@b.hk", "A1", 5000, "T", "gold", "secret", "Acme"),
                             wants_custom=True, plain={"company": 7})
    assert list(record.values.items()) == [
        ("email", "a@b.hk"), ("emailMasked", "m:a@b.hk"), ("hkid", "<A1>"), ("salary", None),
        ("salaryMasked", "<5000>"), ("taxId", None), ("company", "Acme"),
        (CUSTOM_FIELDS, {"tier": "gold", ODD: "<secret>"}),
    ]
    assert record.id == rid and record.entity == "contact" and record.denied == ["d.taxId"]
    assert _events(audit) == [
        ("READ", str(rid), ["email", "hkid", "salary", ODD], ["cat-email", "cat-hkid", "cat-salary", "cat-" + ODD]),
        ("DENIED", str(rid), ["d.taxId"], []),
    ]


def test_a_null_value_is_null_and_not_audited() -> None:
    rid = uuid.uuid4()
    steps = [_step(MASK, "hkid", 1, audited="hkid"), _step(ALLOW_CUSTOM, "tier", 2, custom=True)]
    record, audit = _project(steps, (rid, None, None), wants_custom=True)
    assert record.values == {"hkid": None, CUSTOM_FIELDS: {}} and record.denied == []
    assert _events(audit) == []


def test_a_denied_non_null_field_nulls_the_record_without_a_read_event() -> None:
    rid = uuid.uuid4()
    steps = [_step(DENY, "firstName", 1, deny_value=DENIED), _step(ALLOW, "email", 2, audited="email")]
    record, audit = _project(steps, (rid, "Chan", "a@b.hk"))
    assert record.values == {"firstName": DENIED, "email": "a@b.hk"} and record.denied == ["d.firstName"]
    assert _events(audit) == [("DENIED", str(rid), ["d.firstName"], [])]
