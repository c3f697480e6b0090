# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation, as Chinese should)
"""`privacyNotice(language)`: a plain-language description of what the workspace stores and why (DPP1(3),
DPP5), generated from its field definitions (PII categories, custom fields and their purposes), the classes of
transferees (active webhooks and partner API keys, by their declared description or name), its enabled retention
policies (in plain words: "Cold leads: anonymised 2 years after the last contact with us") and the workspace
settings (the business's name; its data protection officer, who handles access and correction requests, and how
to reach them), in English or Traditional Chinese, for the business's privacy policy.

It describes categories and purposes only, never values. Needs `field_definition` `read`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import ENCRYPTED_CATEGORIES, PII_CATEGORIES
from authz.permissions import Action, Resource
from db.models import ApiKey, FieldDefinition, RetentionPolicy, Webhook
from resolvers.errors import BadInput
from resolvers.privacy import retention_words
from resolvers.runtime import Caller
from resolvers.workspaces import settings as workspace_settings

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
        "intro": "This notice describes the personal data {business} holds in its customer records and what it is"
                 " used for.",
        "transfer": "Who we may pass it to",
        "transfer_none": "We do not pass your personal data to anyone outside {business}, except where the law"
                         " requires it.",
        "transfer_some": "We may pass your personal data to these classes of recipients, only for the purposes"
                         " above: {classes}.",
        "transfer_api": "{name} (connected systems with access to our records)",
        "transfer_hook": "{name} (notified automatically of changes, with record identifiers only)",
        "dpo": "Access and correction requests",
        "dpo_body": "Our data protection officer handles requests for access to, and correction of, personal data."
                    " Write to: {who}.",
        "dpo_none": "Send requests for access to, or correction of, personal data in writing to {business}.",
        "dpo_email": "e-mail {value}",
        "dpo_phone": "phone {value}",
        "dpo_address": "address {value}",
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
        "rights": "Your rights",
        "rights_body": (
            "You may ask for a copy of the personal data we hold about you and ask us to correct it"
            " (Personal Data (Privacy) Ordinance, sections 18 and 22). We answer within 40 days."
            " If we have passed your data to others in the last 12 months, we will pass on any correction."
        ),
        "sep": ", ",
    },
    "ZH": {
        "title": "我們持有閣下的個人資料及其用途",
        "intro": "本通知說明{business}在客戶紀錄中持有的個人資料，以及該等資料的用途。",
        "transfer": "資料可能轉移予的人士",
        "transfer_none": "除法律要求外，我們不會把閣下的個人資料轉移予{business}以外的任何人士。",
        "transfer_some": "我們可能只為上述目的，把閣下的個人資料轉移予以下類別的人士：{classes}。",
        "transfer_api": "{name}（可存取我們紀錄的連接系統）",
        "transfer_hook": "{name}（自動獲通知資料變更，只包括紀錄編號）",
        "dpo": "查閱及改正資料要求",
        "dpo_body": "本機構的保障資料主任負責處理查閱及改正個人資料的要求。聯絡方法：{who}。",
        "dpo_none": "如欲查閱或改正個人資料，請以書面向{business}提出。",
        "dpo_email": "電郵 {value}",
        "dpo_phone": "電話 {value}",
        "dpo_address": "地址 {value}",
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
        "rights": "閣下的權利",
        "rights_body": (
            "閣下可要求查閱我們持有關於閣下的個人資料，並要求改正（《個人資料（私隱）條例》第18條及第22條）。"
            "我們會在40日內回覆。如我們在過去12個月曾向他人披露閣下的資料，我們會把改正通知對方。"
        ),
        "sep": "、",
    },
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
    return Section(str(t["retention"]), " ".join(retention_words.sentence(p, language) for p in policies))


def _transfer_section(classes: list[tuple[str, str]], business: str, language: str) -> Section:
    t = TEXT[language]
    if not classes:
        return Section(str(t["transfer"]), str(t["transfer_none"]).format(business=business))
    named = str(t["sep"]).join(str(t[f"transfer_{kind}"]).format(name=name) for kind, name in classes)
    return Section(str(t["transfer"]), str(t["transfer_some"]).format(classes=named))


def _dpo_section(settings: workspace_settings.Settings, language: str) -> Section:
    t = TEXT[language]
    given = (("email", settings.dpo_email), ("phone", settings.dpo_phone_display), ("address", settings.dpo_address))
    reach = [str(t[f"dpo_{key}"]).format(value=value) for key, value in given if value]
    if not reach and not settings.dpo_name:
        return Section(str(t["dpo"]), str(t["dpo_none"]).format(business=settings.business_name))
    who = str(t["sep"]).join([settings.dpo_name or "", *reach] if settings.dpo_name else reach)
    return Section(str(t["dpo"]), str(t["dpo_body"]).format(who=who))


async def _transferees(session: AsyncSession, now: datetime) -> list[tuple[str, str]]:
    """Active partner API keys (by name) and webhooks (by their description, else their host), each once."""
    keys = (await session.execute(
        select(ApiKey.name)
        .where(ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))
        .order_by(ApiKey.name)
    )).scalars()
    hooks = (await session.execute(
        select(Webhook.description, Webhook.url).where(Webhook.active.is_(True)).order_by(Webhook.created_at)
    )).all()
    out = [("api", name) for name in dict.fromkeys(keys)]
    named = [description or urlsplit(url).hostname or url for description, url in hooks]
    return out + [("hook", name) for name in dict.fromkeys(named)]


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
    settings = await workspace_settings.load(session, caller.tenant.name)
    business = settings.business_name
    t = TEXT[language]
    sections = [Section("", str(t["intro"]).format(business=business))]
    for category in PII_CATEGORIES:
        fields = [d for d in definitions if d.pii_category == category]
        if fields:
            sections.append(_category_section(category, fields, language))
    sections.append(Section(str(t["marketing"]), str(t["marketing_body"])))
    sections.append(_transfer_section(await _transferees(session, caller.runtime.now()), business, language))
    sections.append(_retention_section(policies, language))
    sections.append(Section(str(t["rights"]), str(t["rights_body"])))
    sections.append(_dpo_section(settings, language))
    return Notice(language, str(t["title"]), sections)
