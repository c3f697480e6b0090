"""`index.html` of a data-access copy: the person's data and what every code in the files means, in English or
Traditional Chinese (PDPO s.19(3)(c): the language of the request). Plain HTML, no scripts, every value escaped.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from authz.fields import FieldRegistry
from resolvers.exports.archive import dumps

# code -> (English, Traditional Chinese)
FIELDS: dict[str, tuple[str, str]] = {
    "id": ("Record identifier", "記錄編號"),
    "firstName": ("Given name", "名字"),
    "lastName": ("Family name", "姓氏"),
    "email": ("E-mail address", "電郵地址"),
    "phone": ("Phone number", "電話號碼"),
    "hkid": ("Hong Kong Identity Card number", "香港身份證號碼"),
    "taxId": ("Tax identification number", "稅務編號"),
    "dateOfBirth": ("Date of birth", "出生日期"),
    "dateOfBirthMasked": ("Date of birth (partly hidden)", "出生日期（部分隱藏）"),
    "linkedinUrl": ("LinkedIn profile", "LinkedIn 個人檔案"),
    "bio": ("Notes about you", "關於你的備註"),
    "salary": ("Salary (HK$ a month)", "薪金（每月港元）"),
    "salaryMasked": ("Salary band", "薪金範圍"),
    "company": ("Company", "公司"),
    "jobTitle": ("Job title", "職位"),
    "stage": ("Relationship stage (code below)", "關係階段（代碼見下文）"),
    "vip": ("Marked as a VIP customer", "標記為貴賓客戶"),
    "ownerId": ("Staff member responsible (internal identifier)", "負責職員（內部編號）"),
    "teamId": ("Team responsible (internal identifier)", "負責團隊（內部編號）"),
    "createdAt": ("When the record was created", "記錄建立時間"),
    "updatedAt": ("When the record was last changed", "記錄最後更改時間"),
    "lastActivityAt": ("Most recent contact with you", "最近一次聯絡"),
    "anonymisedAt": ("When the record was anonymised", "記錄匿名化時間"),
    "archivedAt": ("When the record was archived", "記錄封存時間"),
    "customFields": ("Other information the business records (names below)", "機構記錄的其他資料（名稱見下文）"),
    "withheld": ("Items not included in this copy", "此副本未包括的項目"),
    "correctionPending": ("You asked for this data to be corrected; not done yet", "你已要求改正此資料，尚未完成"),
    "consents": ("Your direct-marketing consents", "你的直接促銷同意"),
    "dataRequests": ("Your data access and correction requests", "你的查閱及改正資料要求"),
    "contactId": ("The record the item belongs to", "項目所屬記錄"),
    "kind": ("Kind (code below)", "類別（代碼見下文）"),
    "subject": ("Subject", "主旨"),
    "body": ("Content of the message or note", "訊息或備註內容"),
    "private": ("Marked private by staff", "職員標記為私人"),
    "occurredAt": ("When it happened", "發生時間"),
    "authorId": ("Staff member who recorded it (internal identifier)", "記錄的職員（內部編號）"),
    "amount": ("Amount (HK cents)", "金額（港仙）"),
    "attachments": ("Attached files (in the attachments folder)", "附件（見 attachments 資料夾）"),
    "filename": ("File name", "檔案名稱"),
    "contentType": ("File type", "檔案類型"),
    "sizeBytes": ("File size in bytes", "檔案大小（位元組）"),
    "sha256": ("Fingerprint of the file (SHA-256)", "檔案指紋（SHA-256）"),
    "file": ("Where the file is in this archive", "檔案在此壓縮檔的位置"),
    "field": ("Which item changed", "更改的項目"),
    "oldValue": ("Value before the change", "更改前的值"),
    "newValue": ("Value after the change", "更改後的值"),
    "changedBy": ("Who made the change (kind of actor, code below)", "作出更改者（類別，代碼見下文）"),
    "action": ("What was done (code below)", "所作行動（代碼見下文）"),
    "entityType": ("What it was done to", "對象類別"),
    "entityId": ("Identifier of what it was done to", "對象編號"),
    "fields": ("Items concerned", "涉及的項目"),
    "actorKind": ("Who did it (kind of actor, code below)", "執行者（類別，代碼見下文）"),
    "purpose": ("Purpose (code below)", "用途（代碼見下文）"),
    "granted": ("Consent given", "已給予同意"),
    "source": ("How the consent was obtained", "同意的取得方式"),
    "noticeVersion": ("Version of the notice you were given", "所給予通知的版本"),
    "grantedAt": ("When consent was given", "給予同意時間"),
    "withdrawnAt": ("When consent was withdrawn", "撤回同意時間"),
    "expiresAt": ("When consent expires", "同意屆滿時間"),
    "status": ("Status (code below)", "狀態（代碼見下文）"),
    "language": ("Language of the request", "要求所用語言"),
    "receivedAt": ("When the request was received", "收到要求時間"),
    "dueAt": ("Reply due by (40 days)", "回覆限期（40日）"),
    "fulfilledAt": ("When the request was met", "完成要求時間"),
    "refusalReason": ("Why the request was refused", "拒絕要求的原因"),
}
CODES: dict[str, dict[str, tuple[str, str]]] = {
    "stage": {"LEAD": ("First contact", "初步接觸"), "PROSPECT": ("Possible customer", "潛在客戶"),
              "CUSTOMER": ("Customer", "客戶"), "COLD": ("No longer in contact", "已停止聯絡")},
    "kind": {"EMAIL": ("E-mail", "電郵"), "WHATSAPP": ("WhatsApp message", "WhatsApp 訊息"),
             "CALL": ("Phone call", "電話"), "MEETING": ("Meeting", "會面"), "NOTE": ("Staff note", "職員備註"),
             "PURCHASE": ("Purchase", "購買")},
    "purpose": {"email": ("Marketing by e-mail", "電郵促銷"), "sms": ("Marketing by SMS", "短訊促銷"),
                "whatsapp": ("Marketing by WhatsApp", "WhatsApp 促銷"), "call": ("Marketing by phone", "電話促銷")},
    "action": {"READ": ("Viewed", "查閱"), "CREATE": ("Created", "建立"), "UPDATE": ("Changed", "更改"),
               "DELETE": ("Deleted", "刪除"), "ERASE": ("Erased", "清除"), "EXPORT": ("Copied out", "匯出"),
               "DENIED": ("Access refused", "拒絕存取"), "POLICY_CHANGE": ("Access rules changed", "存取規則更改"),
               "LOGIN": ("Signed in", "登入"), "LOGIN_FAILED": ("Sign-in failed", "登入失敗")},
    "actorKind": {"user": ("A staff member", "職員"), "api_key": ("A connected system of a partner", "合作夥伴系統"),
                  "support": ("The software provider's support", "軟件供應商支援人員"),
                  "system": ("An automatic process", "自動程序")},
    "status": {"OPEN": ("Being handled", "處理中"), "FULFILLED": ("Met", "已完成"), "REFUSED": ("Refused", "已拒絕")},
    "dataRequestKind": {"ACCESS": ("Request for a copy of your data", "查閱資料要求"),
                        "CORRECTION": ("Request to correct your data", "改正資料要求"),
                        "ERASURE": ("Request to erase your data", "刪除資料要求")},
}
FILES: dict[str, tuple[str, str]] = {
    "contact.json": ("Your details, consents and requests", "你的資料、同意及要求"),
    "activities.json": ("Messages, calls, meetings, notes and purchases", "訊息、電話、會面、備註及購買"),
    "history.json": ("Changes made to your details, with old and new values", "你的資料的更改記錄（包括新舊值）"),
    "audit.json": ("Every time your data was viewed, changed or copied", "你的資料每次被查閱、更改或複製的記錄"),
    "attachments/": ("Files attached to activities", "活動的附件"),
}
TEXT: dict[str, tuple[str, str]] = {
    "title": ("A copy of your personal data", "你的個人資料副本"),
    "intro": ("This archive holds the personal data this business keeps about you, as of {date}, in answer to "
              "your data access request under the Personal Data (Privacy) Ordinance. The files are machine-"
              "readable (JSON); this page shows your details and explains every code used in them.",
              "本壓縮檔載有本機構於 {date} 所持有關於你的個人資料，以回應你根據《個人資料（私隱）條例》提出的查閱"
              "資料要求。檔案為機器可讀格式（JSON）；本頁列出你的資料，並解釋檔案中使用的每個代碼。"),
    "others": ("Details that identify other people (for example other customers named in a message) have been "
               "replaced by \u201c[another person]\u201d. Staff members are named only by an internal identifier.",
               "可識別其他人士的資料（例如訊息中提及的其他客戶）已以「[其他人士]」取代。職員僅以內部編號顯示。"),
    "details": ("Your details", "你的資料"), "custom": ("Other information", "其他資料"),
    "consents": ("Direct-marketing consents", "直接促銷同意"), "requests": ("Your requests", "你的要求"),
    "files": ("Files in this archive", "此壓縮檔內的檔案"), "glossary": ("What each field means", "各欄位的意思"),
    "codes": ("What each code means", "各代碼的意思"), "item": ("Item", "項目"), "code": ("Code", "代碼"),
    "value": ("Value", "值"), "count": ("Records", "記錄數目"), "none": ("(none)", "（無）"),
    "withheld": ("Not included: {items}", "未包括：{items}"),
}


def _t(table: Mapping[str, tuple[str, str]], key: str, lang: str) -> str:
    pair = table.get(key)
    return key if pair is None else pair[1 if lang == "ZH" else 0]


def _value(value: Any) -> str:
    if value is None or value == "":
        return "\u2014"
    return value if isinstance(value, str) else dumps(value)


def _table(rows: Sequence[Sequence[str]], head: Sequence[str]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return "".join([*out, "</tbody></table>"])


def render(lang: str, contact: Mapping[str, Any], registry: FieldRegistry, counts: Mapping[str, int],
           files: Sequence[str]) -> str:
    t = lambda key: _t(TEXT, key, lang)  # noqa: E731
    when = _value(contact.get("updatedAt") or contact.get("createdAt"))[:10]
    parts = [f"<!DOCTYPE html><html lang=\"{'zh-Hant-HK' if lang == 'ZH' else 'en'}\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(t('title'))}</title></head><body>", f"<h1>{html.escape(t('title'))}</h1>",
             f"<p>{html.escape(t('intro').format(date=when))}</p>", f"<p>{html.escape(t('others'))}</p>",
             f"<h2>{html.escape(t('details'))}</h2>"]
    skip = {"customFields", "consents", "dataRequests", "withheld"}
    parts.append(_table([(_t(FIELDS, k, lang), k, _value(v)) for k, v in contact.items() if k not in skip],
                        (t("item"), t("code"), t("value"))))
    custom = contact.get("customFields") or {}
    specs = {s.name: s for s in registry.custom("contact")}
    if specs or custom:
        parts.append(f"<h2>{html.escape(t('custom'))}</h2>")
        names = sorted(set(specs) | set(custom))
        parts.append(_table([(specs[n].purpose or n if n in specs else n, n, _value(custom.get(n))) for n in names],
                            (t("item"), t("code"), t("value"))))
    if contact.get("withheld"):
        parts.append(f"<p>{html.escape(t('withheld').format(items=', '.join(contact['withheld'])))}</p>")
    parts.append(f"<h2>{html.escape(t('consents'))}</h2>")
    parts.append(_table([(_t(CODES['purpose'], c["purpose"], lang), c["purpose"], _value(c["granted"]))
                         for c in contact.get("consents", [])], (t("item"), t("code"), t("value")))
                 if contact.get("consents") else f"<p>{html.escape(t('none'))}</p>")
    parts.append(f"<h2>{html.escape(t('requests'))}</h2>")
    parts.append(_table([(_t(CODES["dataRequestKind"], r["kind"], lang), r["kind"], _value(r["status"]))
                         for r in contact.get("dataRequests", [])], (t("item"), t("code"), t("value")))
                 if contact.get("dataRequests") else f"<p>{html.escape(t('none'))}</p>")
    parts.append(f"<h2>{html.escape(t('files'))}</h2>")
    listed = [n for n in FILES if n in files or (n == "attachments/" and any(f.startswith(n) for f in files))]
    counted = {"contact.json": 1, "activities.json": counts.get("activities", 0),
               "history.json": counts.get("history", 0), "audit.json": counts.get("audit", 0),
               "attachments/": counts.get("attachments", 0)}
    parts.append(_table([(_t(FILES, n, lang), n, str(counted[n])) for n in listed], (t("item"), t("code"), t("count"))))
    parts.append(f"<h2>{html.escape(t('glossary'))}</h2>")
    parts.append(_table([(_t(FIELDS, k, lang), k) for k in FIELDS]
                        + [(s.purpose or s.name, f"customFields.{s.name}") for s in specs.values()],
                        (t("item"), t("code"))))
    parts.append(f"<h2>{html.escape(t('codes'))}</h2>")
    for group, codes in CODES.items():
        parts.append(f"<h3>{html.escape(group)}</h3>")
        parts.append(_table([(_t(codes, c, lang), c) for c in codes], (t("item"), t("code"))))
    parts.append("</body></html>\n")
    return "".join(parts)
