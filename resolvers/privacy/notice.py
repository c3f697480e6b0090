# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation, as Chinese should)
"""`privacyNotice(language)`: a plain-language description of what the workspace stores and why (DPP1(3),
DPP5), generated from its field definitions (PII categories, custom fields and their purposes) and its enabled
retention policies, in English or Traditional Chinese, for the business's privacy policy.

It describes categories and purposes only, never values. Needs `field_definition` `read`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import ENCRYPTED_CATEGORIES, PII_CATEGORIES
from authz.permissions import Action, Resource
from db.models import FieldDefinition, RetentionPolicy
from resolvers.errors import BadInput
from resolvers.retention import actions as retention_actions
from resolvers.runtime import Caller

LANGUAGES = ("EN", "ZH")
# category -> language -> (heading, why we hold it)
CATEGORIES: dict[str, dict[str, tuple[str, str]]] = {
    "name": {
        "EN": ("Names", "to identify you and address you correctly"),
        "ZH": ("姓名", "用以識別及正確稱呼閣下"),
    },
    "contact": {
        "EN": ("Contact details", "to reply to your enquiries and communicate with you about our services"),
        "ZH": ("聯絡資料", "用以回覆閣下的查詢及就我們的服務與閣下聯絡"),
    },
    "health": {
        "EN": ("Health information", "only to provide the service you asked for (e.g. a claim or treatment)"),
        "ZH": ("健康資料", "只用於提供你要求的服務（例如索償或治療）"),
    },
    "biometric": {
        "EN": ("Biometric data", "only to verify your identity, with your consent"),
        "ZH": ("生物辨識資料", "只在你同意下用於核實你的身份"),
    },
    "children": {
        "EN": ("Children's data", "only with the consent of a parent or guardian, for the purposes stated"),
        "ZH": ("兒童的資料", "只在父母或監護人同意下，用於所述目的"),
    },
    "criminal_records": {
        "EN": ("Criminal records", "only where the law requires or allows it (e.g. screening for a licence)"),
        "ZH": ("刑事紀錄", "僅在法律要求或准許的情況下使用（例如牌照審查）"),
    },
    "government_id": {
        "EN": ("Identity document numbers", "only where the law requires or allows it, for the purposes stated"),
        "ZH": ("身份證明文件號碼", "僅在法律要求或准許的情況下，並只用於所述目的"),
    },
    "date_of_birth": {
        "EN": ("Date of birth", "to verify your identity and your eligibility for our products"),
        "ZH": ("出生日期", "用以核實閣下身份及是否符合申請我們產品的資格"),
    },
    "online_identifier": {
        "EN": ("Online identifiers", "to understand your professional background"),
        "ZH": ("網上識別資料", "用以了解閣下的專業背景"),
    },
    "financial": {
        "EN": ("Financial information", "to assess which products suit you and to keep the records the law requires"),
        "ZH": ("財務資料", "用以評估適合閣下的產品及保存法例規定的紀錄"),
    },
    "free_text": {
        "EN": ("Notes and correspondence", "to keep a record of our dealings with you"),
        "ZH": ("備註及通訊紀錄", "用以記錄我們與閣下的往來"),
    },
}
LABELS: dict[str, tuple[str, str]] = {
    "firstName": ("first name", "名字"),
    "lastName": ("last name", "姓氏"),
    "email": ("e-mail address", "電郵地址"),
    "phone": ("phone number", "電話號碼"),
    "hkid": ("Hong Kong Identity Card number", "香港身份證號碼"),
    "taxId": ("tax file number", "稅務檔案號碼"),
    "dateOfBirth": ("date of birth", "出生日期"),
    "linkedinUrl": ("LinkedIn profile", "LinkedIn 個人檔案"),
    "bio": ("profile notes", "個人簡介備註"),
    "salary": ("salary", "薪金"),
    "subject": ("subjects of our notes and messages", "備註及訊息的主旨"),
    "body": ("contents of our notes and messages", "備註及訊息的內容"),
    "amount": ("purchase amounts", "購買金額"),
}
TEXT = {
    "EN": {
        "title": "Personal data we hold about you, and why",
        "intro": "This notice describes the personal data in our customer records and what it is used for.",
        "purpose": "We hold it {why}.",
        "custom_purpose": "{field}: {purpose}",
        "encrypted": "It is stored encrypted.",
        "marketing": "Direct marketing",
        "marketing_body": (
            "We use your name and contact details for direct marketing only with your consent, given separately for"
            " e-mail, SMS, WhatsApp and phone calls. You may withdraw your consent at any time, free of charge;"
            " it takes effect at once and we will not contact you for marketing again unless you consent anew."
        ),
        "retention": "How long we keep it",
        "retention_none": "We keep personal data no longer than is necessary for the purposes above.",
        "retention_rule": "{entity} matching \u201c{condition}\u201d are {action} after {days} days.",
        "rights": "Your rights",
        "rights_body": (
            "You may ask for a copy of the personal data we hold about you and ask us to correct it"
            " (Personal Data (Privacy) Ordinance, sections 18 and 22). We answer within 40 days."
            " If we have passed your data to others in the last 12 months, we will pass on any correction."
        ),
        "entities": {"contact": "Contacts", "activity": "Activity records", "consent": "Marketing consents"},
        "sep": ", ",
    },
    "ZH": {
        "title": "我們持有閣下的個人資料及其用途",
        "intro": "本通知說明我們客戶紀錄中持有的個人資料，以及該等資料的用途。",
        "purpose": "我們持有此等資料，{why}。",
        "custom_purpose": "{field}：{purpose}",
        "encrypted": "此等資料以加密方式儲存。",
        "marketing": "直接促銷",
        "marketing_body": (
            "我們只會在取得閣下同意後，才使用閣下的姓名及聯絡資料作直接促銷；電郵、短訊、WhatsApp 及電話"
            "各自分開徵求同意。閣下可隨時免費撤回同意，撤回即時生效，除非閣下再次同意，我們不會再向閣下作促銷聯絡。"
        ),
        "retention": "資料保存期",
        "retention_none": "我們保存個人資料的時間不會超過實現上述目的所需的時間。",
        "retention_rule": "符合「{condition}」的{entity}會在 {days} 日後{action}。",
        "rights": "閣下的權利",
        "rights_body": (
            "閣下可要求查閱我們持有關於閣下的個人資料，並要求改正（《個人資料（私隱）條例》第18條及第22條）。"
            "我們會在40日內回覆。如我們在過去12個月曾向他人披露閣下的資料，我們會把改正通知對方。"
        ),
        "entities": {"contact": "聯絡人紀錄", "activity": "活動紀錄", "consent": "促銷同意"},
        "sep": "、",
    },
}
ACTIONS_ZH = {
    "archived": "封存",
    "anonymised": "匿名化",
    "deleted": "刪除",
    "cleared of free text": "清除文字內容",
    "expired (needs refresh)": "失效（須重新取得同意）",
    "cleared of some fields": "清除部分欄位",
}


@dataclass(frozen=True)
class Section:
    heading: str
    body: str


@dataclass(frozen=True)
class Notice:
    language: str
    title: str
    sections: list[Section]

    @property
    def text(self) -> str:
        parts = [self.title]
        for section in self.sections:
            parts += ["", section.heading, section.body] if section.heading else ["", section.body]
        return "\n".join(parts) + "\n"


def _label(definition: FieldDefinition, language: str) -> str:
    known = LABELS.get(definition.name)
    if definition.custom or known is None:
        return definition.name
    return known[0] if language == "EN" else known[1]


def _category_section(category: str, fields: list[FieldDefinition], language: str) -> Section:
    t = TEXT[language]
    heading, why = CATEGORIES[category][language]
    names = str(t["sep"]).join(_label(f, language) for f in fields)
    lines = [f"{names}.", str(t["purpose"]).format(why=why)]
    for f in fields:
        if f.custom and f.purpose:
            lines.append(str(t["custom_purpose"]).format(field=_label(f, language), purpose=f.purpose))
    if category in ENCRYPTED_CATEGORIES:
        lines.append(str(t["encrypted"]))
    return Section(heading, " ".join(lines))


def _retention_section(policies: list[RetentionPolicy], language: str) -> Section:
    t = TEXT[language]
    if not policies:
        return Section(str(t["retention"]), str(t["retention_none"]))
    entities: dict[str, str] = t["entities"]  # type: ignore[assignment]
    rules = []
    for p in policies:
        action = retention_actions.describe(p.entity, p.action)
        rules.append(
            str(t["retention_rule"]).format(
                entity=entities.get(p.entity, p.entity),
                condition=p.condition,
                action=action if language == "EN" else ACTIONS_ZH.get(action, action),
                days=p.after_days,
            )
        )
    return Section(str(t["retention"]), " ".join(rules))


async def notice(session: AsyncSession, caller: Caller, language: str) -> Notice:
    caller.access.require(Resource.FIELD_DEFINITION, Action.READ)
    if language not in LANGUAGES:
        raise BadInput("language is EN or ZH", field="language")
    definitions = list(
        (
            await session.execute(
                select(FieldDefinition)
                .where(FieldDefinition.pii_category.is_not(None))
                .order_by(FieldDefinition.entity, FieldDefinition.custom, FieldDefinition.created_at)
            )
        ).scalars()
    )
    policies = list(
        (
            await session.execute(
                select(RetentionPolicy).where(RetentionPolicy.enabled.is_(True)).order_by(RetentionPolicy.name)
            )
        ).scalars()
    )
    t = TEXT[language]
    sections = [Section("", str(t["intro"]))]
    for category in PII_CATEGORIES:
        fields = [d for d in definitions if d.pii_category == category]
        if fields:
            sections.append(_category_section(category, fields, language))
    sections.append(Section(str(t["marketing"]), str(t["marketing_body"])))
    sections.append(_retention_section(policies, language))
    sections.append(Section(str(t["rights"]), str(t["rights_body"])))
    return Notice(language, str(t["title"]), sections)
