"""Total masking functions for the MASK effect; malformed values fail closed to ``[hidden]``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import phonenumbers

__all__ = [
    "HIDDEN",
    "HIDDEN_LINK",
    "MASKERS",
    "mask_date_of_birth",
    "mask_email",
    "mask_free_text",
    "mask_hkid",
    "mask_name",
    "mask_online_identifier",
    "mask_phone",
    "mask_salary",
    "mask_tax_id",
    "mask_value",
    "masker",
]

HIDDEN = "[hidden]"
HIDDEN_LINK = "[hidden link]"

_MAX_INPUT = 1024
_HKID_RE = re.compile(r"([A-Z]{1,2})([0-9]{3})[0-9]{3}\(?[0-9A]\)?")
_ISO_DATE_RE = re.compile(r"([0-9]{4})-[0-9]{2}-[0-9]{2}")
_TAX_ID_RE = re.compile(r"[A-Za-z0-9/\- ]{8,20}")
_EMAIL_DOMAIN_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
# Two labels or more, each a word character, then word characters or hyphens ending in a word character: the same
# as splitting at every dot and matching each label, in one match.
_EMAIL_DOMAIN_RE = re.compile(rf"{_EMAIL_DOMAIN_LABEL}(?:\.{_EMAIL_DOMAIN_LABEL})+")
_SPACES_RE = re.compile(r"\s+")
_SALARY_BANDS_10K_LIMIT = 100_000
_SALARY_BANDS_50K_LIMIT = 500_000


def _text(value: object) -> str | None:
    """Return a stripped string for plausible stored values, None for anything odd."""
    if not isinstance(value, str) or len(value) > _MAX_INPUT:
        return None
    return value.strip()


def mask_phone(e164: str) -> str:
    """``+85291234567`` -> ``+852 ****4567``; keep only the last 2 digits for short national numbers."""
    text = _text(e164)
    if not text or not text.startswith("+") or not text[1:].isascii() or not text[1:].isdigit():
        return HIDDEN
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return HIDDEN
    national = phonenumbers.national_significant_number(number)
    if not number.country_code or len(national) < 4:
        return HIDDEN
    kept = national[-4:] if len(national) >= 8 else national[-2:]
    return f"+{number.country_code} ****{kept}"


def mask_email(email: str) -> str:
    """``jane@example.com`` -> ``j***@example.com`` (first character of the local part and the domain)."""
    text = _text(email)
    if not text or "@" not in text:
        return HIDDEN
    local, domain = text.rsplit("@", 1)
    if (
        not local
        or not local[0].isprintable()
        or local[0].isspace()
        or local[0] in '"@'
        or _EMAIL_DOMAIN_RE.fullmatch(domain) is None
    ):
        return HIDDEN
    return f"{local[0]}***@{domain}"


def mask_hkid(hkid: str) -> str:
    """``A123456(3)`` -> ``A123***(*)``: the letter prefix and the first 3 digits only."""
    text = _text(hkid)
    if not text or not text.isascii():
        return HIDDEN
    match = _HKID_RE.fullmatch(_SPACES_RE.sub("", text).upper())
    if match is None:
        return HIDDEN
    prefix, first_digits = match.groups()
    return f"{prefix}{first_digits}***(*)"


def mask_tax_id(value: str) -> str:
    """Keep only the last 3 characters behind a fixed ``*****`` (never the real length)."""
    text = _text(value)
    if not text or _TAX_ID_RE.fullmatch(text) is None:
        return HIDDEN
    return f"*****{text[-3:].upper()}"


def mask_date_of_birth(value: date) -> str:
    """``1985-03-04`` -> ``1985-**-**`` (year only); ISO date strings are accepted too."""
    if isinstance(value, date):
        return f"{value.year:04d}-**-**"
    text = _text(value)
    if text:
        match = _ISO_DATE_RE.fullmatch(text)
        if match is not None:
            return f"{match.group(1)}-**-**"
    return HIDDEN


def mask_salary(value: int) -> str:
    """Show only a band: 10k-wide below 100k, 50k-wide below 500k, then ``HK$500,000+``."""
    if isinstance(value, bool):
        return HIDDEN
    if isinstance(value, int):
        amount = value
    elif (isinstance(value, float) and math.isfinite(value)) or (isinstance(value, Decimal) and value.is_finite()):
        amount = math.floor(value)
    else:
        return HIDDEN
    if amount < 0:
        return HIDDEN
    if amount >= _SALARY_BANDS_50K_LIMIT:
        return f"HK${_SALARY_BANDS_50K_LIMIT:,}+"
    width = 10_000 if amount < _SALARY_BANDS_10K_LIMIT else 50_000
    low = amount - amount % width
    return f"HK${low:,}-{low + width - 1:,}"


def mask_free_text(value: str) -> str:
    """Free text is never partially revealed."""
    return HIDDEN


def mask_name(value: str) -> str:
    """``Chan Tai Man`` -> ``C.`` (first character only)."""
    text = _text(value)
    if not text or not text[0].isprintable():
        return HIDDEN
    return f"{text[0]}."


def mask_online_identifier(value: str) -> str:
    """URLs and handles are never partially revealed."""
    return HIDDEN_LINK


MASKERS: dict[str, Callable[[Any], str]] = {
    "phone": mask_phone,
    "email": mask_email,
    "hkid": mask_hkid,
    "tax_id": mask_tax_id,
    "date_of_birth": mask_date_of_birth,
    "salary": mask_salary,
    "free_text": mask_free_text,
    "name": mask_name,
    "online_identifier": mask_online_identifier,
}


def mask_value(kind: str, value: object) -> str | None:
    """Mask ``value`` with the masker for ``kind``; None stays None, unknown kinds fail closed."""
    if value is None:
        return None
    masker = MASKERS.get(kind, mask_free_text) if isinstance(kind, str) else mask_free_text
    try:
        return masker(value)
    except Exception:  # masking must never fail open or break the response
        return HIDDEN


def masker(kind: str) -> Callable[[object], str | None]:
    """`mask_value` with its kind bound: the masker is looked up once, not per value."""
    mask = MASKERS.get(kind, mask_free_text) if isinstance(kind, str) else mask_free_text

    def masked(value: object) -> str | None:
        if value is None:
            return None
        try:
            return mask(value)
        except Exception:  # masking must never fail open or break the response
            return HIDDEN

    return masked
