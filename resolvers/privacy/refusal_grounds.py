# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation, as Chinese should)
"""The grounds on which a data request may be refused, from the ordinance's own lists, and their citations.

ACCESS requests: PDPO s.20 (s.20(1) "shall refuse", s.20(3) "may refuse"), notified under s.21.
CORRECTION requests: s.24 (s.24(1) "shall refuse", s.24(3) "may refuse"), notified under s.25.
ERASURE requests (DPP2(2), s.26): erasure is not required while the data are still needed for their purpose,
or when a law forbids it.

A refusal names one ground valid for its kind; the free-text reason explains it (and, for
CONTROLLED_BY_ANOTHER_DATA_USER, s.21(1)(c) / s.25(1)(b), names the other data user and its address). A
reason alone is accepted only when it cites a ground (e.g. "s.20(3)(c): the third identical request").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Ground:
    code: str
    citations: dict[str, str]  # request kind -> the section that allows it
    en: str
    zh: str


GROUNDS: dict[str, Ground] = {g.code: g for g in (
    Ground("IDENTITY_NOT_PROVEN", {"ACCESS": "s.20(1)(a)", "CORRECTION": "s.24(1)", "ERASURE": "DPP4(1)"},
           "we were not given the information we reasonably need to confirm the identity of the person making "
           "the request (or their authority to act for the data subject)",
           "我們未獲提供合理所需的資料，以確定提出要求者的身份（或其代表資料當事人行事的授權）"),
    Ground("OTHER_PERSONS_DATA", {"ACCESS": "s.20(1)(b)"},
           "we cannot comply without disclosing personal data of another individual who has not consented, and "
           "the data cannot be supplied with that individual's identity omitted",
           "我們無法在不披露另一名未同意披露的人士的個人資料下依從要求，而略去該人士的身份後亦無法提供有關資料"),
    Ground("PROHIBITED_BY_LAW", {"ACCESS": "s.20(1)(c)", "ERASURE": "s.26(1)"},
           "the law prohibits us, for the time being, from complying with the request",
           "法律暫時禁止我們依從要求"),
    Ground("NOT_IN_CHINESE_OR_ENGLISH", {"ACCESS": "s.20(3)(a)", "CORRECTION": "s.24(3)(a)"},
           "the request was not made in writing in Chinese or English",
           "要求並非以中文或英文書面提出"),
    Ground("CANNOT_LOCATE_DATA", {"ACCESS": "s.20(3)(b)"},
           "we were not given the information we reasonably need to locate the personal data requested",
           "我們未獲提供合理所需的資料，以找出所要求的個人資料"),
    Ground("REPEATED_REQUEST", {"ACCESS": "s.20(3)(c)"},
           "the request follows two or more similar requests and it is unreasonable in all the circumstances to "
           "comply with it again",
           "此要求是在兩次或以上相類的要求之後提出，在有關情況下再次依從並不合理"),
    Ground("CONTROLLED_BY_ANOTHER_DATA_USER", {"ACCESS": "s.20(3)(d)", "CORRECTION": "s.24(3)(e)"},
           "another data user controls the use of the data in a way that prohibits us from complying",
           "另一資料使用者控制該等資料的使用，禁止我們依從要求"),
    Ground("NOT_IN_SPECIFIED_FORM", {"ACCESS": "s.20(3)(e)"},
           "the request was not made in the form specified for it",
           "要求並非以指明的表格提出"),
    Ground("ENTITLED_UNDER_ORDINANCE", {"ACCESS": "s.20(3)(ea)"},
           "we are entitled under the Ordinance or another Ordinance not to comply with the request",
           "根據本條例或其他條例，我們有權不依從要求"),
    Ground("EXEMPTION", {"ACCESS": "s.20(3)(f)"},
           "compliance may for the time being be refused under the Ordinance, by an exemption under Part 8 or "
           "otherwise",
           "根據本條例（包括第8部的豁免）可暫時拒絕依從要求"),
    Ground("DATA_NOT_INACCURATE", {"CORRECTION": "s.24(3)(b)"},
           "we are not satisfied that the personal data concerned are inaccurate",
           "我們不信納有關個人資料並不準確"),
    Ground("INACCURACY_NOT_SHOWN", {"CORRECTION": "s.24(3)(c)"},
           "we were not given the information we reasonably need to find out in what way the data are inaccurate",
           "我們未獲提供合理所需的資料，以確定有關資料在哪方面不準確"),
    Ground("CORRECTION_NOT_ACCURATE", {"CORRECTION": "s.24(3)(d)"},
           "we are not satisfied that the correction asked for is accurate",
           "我們不信納所要求的改正是準確的"),
    Ground("STILL_REQUIRED", {"ERASURE": "DPP2(2), s.26(1)"},
           "the data are still required for the purpose for which they were collected (including records we "
           "must keep by law)",
           "有關資料仍為收集目的所需（包括法律規定我們須保存的紀錄）"),
)}
# "s.20(3)(c)", "s 24(3)(b)", "section 20(1)(a)": the citation a free-text reason may carry
_CITATION = re.compile(r"\b(?:s\.?|section)\s*(2[04])\s*(\(\d\)\s*\([a-z]{1,2}\)|\(1\))", re.IGNORECASE)


def for_kind(kind: str) -> list[Ground]:
    return [g for g in GROUNDS.values() if kind in g.citations]


def cited(kind: str, reason: str) -> Ground | None:
    """The ground a reason cites by section, if it cites exactly one valid for the kind."""
    found = set()
    for match in _CITATION.finditer(reason):
        section = "s." + match.group(1) + re.sub(r"\s+", "", match.group(2)).lower()
        found |= {g.code for g in for_kind(kind) if g.citations[kind] == section}
    return GROUNDS[found.pop()] if len(found) == 1 else None


def citation(ground: Ground, kind: str) -> str:
    return ground.citations[kind]
