# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation, as Chinese should)
"""A retention policy in plain words for the privacy notice: "Cold leads: anonymised 2 years after the last contact
with us", in English or Traditional Chinese, never the raw condition text.

What the policy covers is read from simple conditions (`stage = COLD`, `kind = PURCHASE`, `consent is active`,
joined by `and`); any other condition is named by the policy's own name, which an admin wrote for people.
"""

from __future__ import annotations

import re

from db.models import RetentionPolicy

WHAT: dict[tuple[str, str], tuple[str, str]] = {
    ("stage", "COLD"): ("Cold leads", "冷淡的潛在客戶"),
    ("stage", "LEAD"): ("Leads", "潛在客戶"),
    ("stage", "PROSPECT"): ("Prospective customers", "準客戶"),
    ("stage", "CUSTOMER"): ("Customers", "客戶"),
    ("kind", "PURCHASE"): ("Purchase records", "購買紀錄"),
    ("kind", "EMAIL"): ("E-mails", "電郵"),
    ("kind", "WHATSAPP"): ("WhatsApp messages", "WhatsApp 訊息"),
    ("kind", "CALL"): ("Call notes", "通話紀錄"),
    ("kind", "MEETING"): ("Meeting notes", "會議紀錄"),
    ("kind", "NOTE"): ("Notes", "備註"),
}
ENTITY: dict[str, tuple[str, str]] = {
    "contact": ("Customer records", "客戶紀錄"),
    "activity": ("Records of our dealings with you", "與閣下往來的紀錄"),
    "consent": ("Marketing consents", "促銷同意"),
}
SENTENCE: dict[str, dict[str, str]] = {
    "EN": {
        "contact": "{what}: {verb} {period} after the last contact with us.",
        "activity": "{what}: {verb} {period} after the date they were made.",
        "consent": "{what}: lapse {period} after they were given, unless you renew them.",
    },
    "ZH": {
        "contact": "{what}：在最後一次與我們聯絡的{period}後{verb}。",
        "activity": "{what}：在紀錄日期的{period}後{verb}。",
        "consent": "{what}：在給予同意的{period}後失效，除非閣下續期。",
    },
}
VERB: dict[tuple[str, str], tuple[str, str]] = {
    ("contact", "ARCHIVE"): ("archived", "封存"),
    ("contact", "ANONYMISE"): ("anonymised (names and contact details removed)", "匿名化（刪除姓名及聯絡資料）"),
    ("contact", "DELETE"): ("deleted", "刪除"),
    ("contact", "CLEAR_FIELDS"): ("some details deleted", "刪除部分資料"),
    ("activity", "ANONYMISE"): ("their text deleted", "刪除文字內容"),
    ("activity", "DELETE"): ("deleted", "刪除"),
    ("activity", "CLEAR_FIELDS"): ("some details deleted", "刪除部分資料"),
}
_TEST = re.compile(r"^\s*(\w+)\s*=\s*(\w+)\s*$")


def _what(policy: RetentionPolicy, language: str) -> str:
    i = 0 if language == "EN" else 1
    parts = [p for p in re.split(r"\s+and\s+", policy.condition.strip(), flags=re.IGNORECASE) if p]
    named: list[str] = []
    for part in parts:
        match = _TEST.match(part)
        if re.fullmatch(r"\s*consent\s+(any\s+)?is\s+active\s*", part, re.IGNORECASE):
            named.append(ENTITY["consent"][i])
        elif match and (match.group(1), match.group(2).upper()) in WHAT:
            named.append(WHAT[(match.group(1), match.group(2).upper())][i])
        else:
            return policy.name  # a condition beyond these words: the admin's own name for the policy
    return named[0] if len(named) == 1 else (policy.name if named else ENTITY.get(policy.entity, ("", ""))[i])


def period(days: int, language: str) -> str:
    years = round(days / 365)
    if years >= 1 and abs(days - years * 365) <= 3:
        return (f"{years} year" + ("s" if years > 1 else "")) if language == "EN" else f"{years}年"
    if days >= 30 and days % 30 == 0:
        months = days // 30
        return (f"{months} month" + ("s" if months > 1 else "")) if language == "EN" else f"{months}個月"
    return (f"{days} day" + ("s" if days != 1 else "")) if language == "EN" else f"{days}日"


def sentence(policy: RetentionPolicy, language: str) -> str:
    i = 0 if language == "EN" else 1
    verb = VERB.get((policy.entity, policy.action), (policy.action.lower(), policy.action.lower()))[i]
    template = SENTENCE[language].get(policy.entity, SENTENCE[language]["contact"])
    return template.format(what=_what(policy, language), verb=verb, period=period(policy.after_days, language))
