"""`resolvers.exports.rows.Tally`: what an export read, in first-read order, however many rows read it again."""

from __future__ import annotations

import uuid

from db.audit import AuditActor
from resolvers.exports.rows import Tally


def test_fields_and_categories_are_tallied_once_each_in_the_order_first_read() -> None:
    tally = Tally(AuditActor(uuid.uuid4(), "user"))
    for i in range(3):
        tally.read("contact", f"c{i}", ["email", "hkid"], ["contact", "government_id"])
    tally.read("activity", "a1", ["body"], ["free_text"])
    tally.read("contact", "c9", ["hkid", "salary"], ["government_id", "financial"])
    tally.read("activity", "a2", ["body"], ["free_text"])
    assert list(tally.fields) == ["email", "hkid", "activity.body", "salary"]
    assert list(tally.categories) == ["contact", "government_id", "free_text", "financial"]
    assert len(tally) == 0  # a tally, not a READ event per row (the export writes its own summary event)
