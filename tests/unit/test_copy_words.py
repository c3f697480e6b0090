"""Units of the person's copy: the EN and ZH catalogues hold the same keys, dates and times are written for a
layperson in the workspace's time zone, and s.20(2) redaction and the review list handle Latin and Chinese
names (known ones replaced, the person's own kept, strangers listed)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from resolvers.exports import copy_words
from resolvers.exports.index_html import phone
from resolvers.privacy import third_parties

HKT = ZoneInfo("Asia/Hong_Kong")


def test_the_catalogues_have_the_same_keys_and_no_empty_text() -> None:
    en, zh = copy_words.catalogue("EN"), copy_words.catalogue("ZH")
    assert set(en) == set(zh)
    assert all(v.strip() for v in [*en.values(), *zh.values()])


def test_dates_and_times_are_local_and_plain() -> None:
    at = datetime(2026, 12, 3, 6, 5, tzinfo=UTC)
    en, zh = copy_words.Words("EN", HKT), copy_words.Words("ZH", HKT)
    assert en.time(at) == "3 Dec 2026 14:05" and zh.time(at) == "2026年12月3日 14:05"
    assert en.time("2026-12-03T06:05:00+00:00") == "3 Dec 2026 14:05"
    assert en.date("1980-03-04") == "4 Mar 1980" and zh.date("1980-03-04") == "1980年3月4日"
    assert (en.plain(True), zh.plain(False)) == ("Yes", "否")
    assert en.join(["a", "b", "c"]) == "a, b and c" and zh.join(["甲", "乙"]) == "甲及乙"
    assert copy_words.Words("EN", ZoneInfo("Europe/London")).time(at) == "3 Dec 2026 06:05"
    assert phone("+85291234567") == "+852 9123 4567" and phone("+447700900123") == "+447700900123"


def test_known_names_are_replaced_and_the_rest_listed_for_review() -> None:
    own = [{"firstName": "小明", "lastName": "陳", "email": "me@example.hk"}]
    found: set[str] = set()
    text = "Peter Lee and 李大文 met 陳小明; Wife Mary Chan asked, so did 黃美玲. Mail peter@example.com"
    third_parties.candidates([text], found)
    assert {"peter lee", "李大文", "陳小明"} <= found
    redactor = third_parties.Redactor(own, {"peter lee", "李大文"}, "EN")
    out = redactor.text(text)
    assert out == ("[another person] and [another person] met 陳小明; Wife Mary Chan asked, so did 黃美玲. "
                   "Mail [another person]")
    assert redactor.redactions == 3
    assert third_parties.review_candidates([out], redactor.own_names) == ["Wife Mary Chan", "黃美玲"]
