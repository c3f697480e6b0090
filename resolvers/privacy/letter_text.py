# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation, as Chinese should)
"""The sentences of the reply letters, one catalogue per language (English, Traditional Chinese), keyed by id.

Placeholders are `str.format` names; the values are escaped by the template, never by these strings.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "EN": {
        "date": "Date: {date}",
        "to": "To: {name}",
        "dear": "Dear {name},",
        "ref": "Our reference: {ref} (received {received})",
        "subject.ACCESS_REPLY": "Your data access request (Personal Data (Privacy) Ordinance, s.18 and s.19(1))",
        "subject.NO_DATA_HELD": "Your data access request (Personal Data (Privacy) Ordinance, s.18(1)(a) and s.19(1))",
        "subject.CORRECTION_REPLY": "Your data correction request (Personal Data (Privacy) Ordinance, s.22 and s.23)",
        "subject.PARTIAL_COMPLIANCE": "Your {request}: notice under s.19(2) of the Personal Data (Privacy) Ordinance",
        "subject.REFUSAL": "Your {request}: notice of refusal{under}",
        "under": " under {section} of the Personal Data (Privacy) Ordinance",
        "request.ACCESS": "data access request",
        "request.CORRECTION": "data correction request",
        "request.ERASURE": "request to erase your personal data",
        "access.body": "We received your data access request on {received}. We hold personal data about you, "
                       "and a copy of it is supplied with this letter.",
        "access.delivered": "The copy was delivered by {method} on {delivered}.",
        "access.copy": "The copy lists every item we hold about you, our messages and notes, the history of "
                       "changes and who in our business looked at your record.",
        "nodata.body": "We received your data access request on {received}. We have searched our records and we "
                       "hold no personal data about you.",
        "correction.body": "We received your data correction request on {received}. We have corrected your "
                           "personal data as follows: {correction}",
        "correction.passed_on": "Where we disclosed the data to others in the 12 months before the correction, we "
                                "have passed the correction on to them (s.23(1)(c)).",
        "partial.body": "We received your {request} on {received}. We are unable to comply with it in full within "
                        "the 40 days the Ordinance allows, for the following reasons: {notice}",
        "partial.rest": "We have complied with the request to the extent we are able, and we will complete it as "
                        "soon as practicable.",
        "refusal.body": "We received your {request} on {received}. We refuse to comply with it under {section} of "
                        "the Personal Data (Privacy) Ordinance, because {ground}.",
        "refusal.reason": "In particular: {reason}",
        "refusal.other_user": "The other data user concerned is named in the reason above, with its address.",
        "complaint": "If you are not satisfied, you may complain to the Office of the Privacy Commissioner for "
                     "Personal Data, Hong Kong (www.pcpd.org.hk).",
        "questions": "If you have any questions, please contact our data protection officer:",
        "dpo.name": "{name}",
        "dpo.email": "E-mail: {email}",
        "dpo.phone": "Phone: {phone}",
        "dpo.address": "Address: {address}",
        "dpo.missing": "Please reply to this letter.",
        "signoff": "Yours sincerely,",
        "signer": "Data Protection Officer, {business}",
        "title": "Letter from {business}",
    },
    "ZH": {
        "date": "日期：{date}",
        "to": "致：{name}",
        "dear": "{name} 台鑒：",
        "ref": "本機構參考編號：{ref}（收件日期：{received}）",
        "subject.ACCESS_REPLY": "閣下的查閱資料要求（《個人資料（私隱）條例》第18條及第19(1)條）",
        "subject.NO_DATA_HELD": "閣下的查閱資料要求（《個人資料（私隱）條例》第18(1)(a)條及第19(1)條）",
        "subject.CORRECTION_REPLY": "閣下的改正資料要求（《個人資料（私隱）條例》第22條及第23條）",
        "subject.PARTIAL_COMPLIANCE": "閣下的{request}：根據《個人資料（私隱）條例》第19(2)條發出的通知",
        "subject.REFUSAL": "閣下的{request}：拒絕通知{under}",
        "under": "（根據《個人資料（私隱）條例》{section}）",
        "request.ACCESS": "查閱資料要求",
        "request.CORRECTION": "改正資料要求",
        "request.ERASURE": "刪除個人資料要求",
        "access.body": "我們於{received}收到閣下的查閱資料要求。我們持有關於閣下的個人資料，現隨函附上該等資料的複本。",
        "access.delivered": "複本已於{delivered}以{method}送交。",
        "access.copy": "複本列出我們持有關於閣下的每項資料、我們的訊息及備註、更改紀錄，"
                       "以及本機構內曾查看閣下紀錄的人。",
        "nodata.body": "我們於{received}收到閣下的查閱資料要求。經查核紀錄，我們並無持有關於閣下的個人資料。",
        "correction.body": "我們於{received}收到閣下的改正資料要求。我們已按以下方式改正閣下的個人資料：{correction}",
        "correction.passed_on": "如我們在改正前12個月內曾向他人披露該等資料，我們已把改正通知對方（第23(1)(c)條）。",
        "partial.body": "我們於{received}收到閣下的{request}。我們未能在條例容許的40日內全面依從要求，"
                        "原因如下：{notice}",
        "partial.rest": "我們已在能力範圍內依從要求，並會在切實可行範圍內盡快完成。",
        "refusal.body": "我們於{received}收到閣下的{request}。根據《個人資料（私隱）條例》{section}，"
                        "我們拒絕依從該要求，原因是{ground}。",
        "refusal.reason": "具體而言：{reason}",
        "refusal.other_user": "有關的另一資料使用者的名稱及地址已載於上述原因。",
        "complaint": "如閣下不滿意，可向香港個人資料私隱專員公署投訴（www.pcpd.org.hk）。",
        "questions": "如有任何疑問，請聯絡本機構的保障資料主任：",
        "dpo.name": "{name}",
        "dpo.email": "電郵：{email}",
        "dpo.phone": "電話：{phone}",
        "dpo.address": "地址：{address}",
        "dpo.missing": "請回覆本函。",
        "signoff": "此致",
        "signer": "{business} 保障資料主任",
        "title": "{business} 來函",
    },
}
# The ordinance's sections in Chinese citation style
SECTION_ZH = {"DPP4(1)": "保障資料第4(1)原則", "DPP2(2), s.26(1)": "保障資料第2(2)原則及第26(1)條"}
# The section under which a refusal notice is given, per request kind (erasure requests have none)
NOTICE_SECTION = {"ACCESS": "s.21", "CORRECTION": "s.25"}


def section(citation: str, language: str) -> str:
    if language == "EN":
        return citation
    if citation in SECTION_ZH:
        return SECTION_ZH[citation]
    return f"第{citation.removeprefix('s.')}條"
