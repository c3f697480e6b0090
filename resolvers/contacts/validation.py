"""Pure input validators/normalisers for CRM fields; each rejects bad input with ``InvalidValue``."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT

__all__ = [
    "InvalidValue",
    "hkid_check_digit",
    "normalize_email",
    "normalize_hkid",
    "normalize_linkedin_url",
    "normalize_name",
    "normalize_phone",
    "normalize_tax_id",
    "normalize_text",
    "validate_date_of_birth",
    "validate_salary",
]


class InvalidValue(ValueError):
    """An input value that cannot be accepted; the message is safe to show to the caller."""


# Hong Kong does not observe DST, so a fixed offset is exact and needs no tz database.
HONG_KONG_TZ = timezone(timedelta(hours=8), "HKT")

MIN_DATE_OF_BIRTH = date(1900, 1, 1)
MAX_SALARY = 1_000_000_000

_MAX_EMAIL_INPUT = 320
_MAX_PHONE_INPUT = 40
_MAX_HKID_INPUT = 32
_MAX_URL_LENGTH = 500  # contacts.linkedin_url is varchar(500)

# Digits (incl. full-width, which phonenumbers folds to ASCII), whitespace and the usual punctuation.
# Letters are refused on purpose: phonenumbers would otherwise turn "9123-ABCD" into a vanity number,
# accept "ext 12" as an extension that E.164 silently drops, and pull a number out of arbitrary text.
_PHONE_CHARS_RE = re.compile(r"[\d\s+\uff0b\-.()]+")
_HKID_RE = re.compile(r"([A-Z]{1,2})([0-9]{6})(?:\(([0-9A])\)|([0-9A]))")
_HKID_PREFIX_RE = re.compile(r"[A-Z]{1,2}")
_HKID_DIGITS_RE = re.compile(r"[0-9]{6}")
_HKID_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
_HKID_SPACE_VALUE = 36
_TAX_ID_RE = re.compile(r"[A-Za-z0-9/\- ]{8,20}")
_LINKEDIN_HOST_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*linkedin\.com")

# Zero-width (non-)joiners are legitimate inside names in several scripts; other format characters
# (bidi overrides, zero-width spaces, ...) are refused along with control characters.
_ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})
_FORBIDDEN_NAME_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Co", "Zl", "Zp"})


def _require_str(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValue("must be a string")
    return value


def normalize_email(value: str) -> str:
    """Validate an e-mail address (syntax only, no DNS) and return its normalised form."""
    text = _require_str(value).strip()
    if not text:
        raise InvalidValue("must not be empty")
    if len(text) > _MAX_EMAIL_INPUT:
        raise InvalidValue("is too long")
    simple = _simple_email(text)
    if simple is not None:
        return simple
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(f"is not a valid e-mail address: {exc}") from None
    return result.normalized


# The common address, `dot-atom@ascii.domain`, checked without email_validator's general parser (display names,
# quoting, Unicode), which is most of the cost of validating it: the local part is valid exactly when it matches
# email_validator's own dot-atom pattern (then it is its own normalised form), and a domain's verdict does not
# depend on the local part, so it is asked of email_validator once per distinct domain. Anything else, and
# anything this path would refuse, goes to email_validator itself: the same accept/reject set, normalised form
# and messages (tests/unit/test_email_fast_path.py compares both on generated addresses).
_SIMPLE_EMAIL_RE = re.compile("(" + DOT_ATOM_TEXT.pattern.removesuffix(r"\Z") + r")@([A-Za-z0-9.\-]+)")
_EMAIL_DOMAINS: dict[str, tuple[str, str] | None] = {}  # domain as given -> (normalised, IDNA ASCII) or refused
_EMAIL_DOMAINS_MAX = 10_000
_EMAIL_MAX_LENGTH = 254  # email_validator's EMAIL_MAX_LENGTH, in UTF-8 bytes


def _email_domain(domain: str) -> tuple[str, str] | None:
    known = _EMAIL_DOMAINS.get(domain, ())
    if known != ():
        return known  # type: ignore[return-value]
    try:
        result = validate_email("a@" + domain, check_deliverability=False)
        found: tuple[str, str] | None = (result.domain, result.ascii_domain)
    except EmailNotValidError:
        found = None
    if len(_EMAIL_DOMAINS) >= _EMAIL_DOMAINS_MAX:
        _EMAIL_DOMAINS.clear()
    _EMAIL_DOMAINS[domain] = found
    return found


def _simple_email(text: str) -> str | None:
    """The normalised form of a plain ASCII address email_validator accepts; None: ask email_validator."""
    match = _SIMPLE_EMAIL_RE.fullmatch(text)
    if match is None:
        return None
    local, domain_part = match.groups()
    domain = _email_domain(domain_part)
    if domain is None:
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    normalized = f"{local}@{domain[0]}"
    for address in (text, normalized, f"{local}@{domain[1]}"):
        if len(address.encode()) > _EMAIL_MAX_LENGTH:
            return None  # email_validator refuses it, with its own message
    return normalized


def normalize_phone(value: str, default_region: str = "HK") -> str:
    """Validate a phone number (national numbers default to Hong Kong) and return it in E.164 form."""
    text = _require_str(value).strip()
    if not text:
        raise InvalidValue("must not be empty")
    if len(text) > _MAX_PHONE_INPUT:
        raise InvalidValue("is too long")
    if _PHONE_CHARS_RE.fullmatch(text) is None:
        raise InvalidValue("may contain only digits, spaces, '+', '-', '.', '(' and ')'")
    e164 = _e164(text, default_region)
    if e164 is None:
        raise InvalidValue("is not a valid phone number")
    return e164


@functools.lru_cache(maxsize=8192)
def _e164(text: str, default_region: str) -> str | None:
    """phonenumbers' verdict on one input (None: not a valid number), parsed once per distinct input: a file
    repeats its numbers (one person on several rows, a company's switchboard) and phonenumbers is slow."""
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _hkid_char_value(char: str) -> int:
    if char == " ":
        return _HKID_SPACE_VALUE
    if char.isdigit():
        return int(char)
    return ord(char) - ord("A") + 10


def hkid_check_digit(prefix: str, digits: str) -> str:
    """Return the HKID check character ("0"-"9" or "A") for a 1-2 letter prefix and 6 digits."""
    if not isinstance(prefix, str) or not prefix.isascii() or _HKID_PREFIX_RE.fullmatch(prefix.upper()) is None:
        raise InvalidValue("HKID prefix must be one or two letters")
    if not isinstance(digits, str) or _HKID_DIGITS_RE.fullmatch(digits) is None:
        raise InvalidValue("HKID must have six digits after the prefix")
    body = prefix.upper().rjust(2) + digits
    total = sum(_hkid_char_value(char) * weight for char, weight in zip(body, _HKID_WEIGHTS, strict=True))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def normalize_hkid(value: str) -> str:
    """Validate a Hong Kong Identity Card number and return the canonical form ``A123456(3)``."""
    text = _require_str(value)
    if len(text) > _MAX_HKID_INPUT or not text.isascii():
        raise InvalidValue("is not a valid HKID number")
    compact = re.sub(r"\s+", "", text).upper()
    match = _HKID_RE.fullmatch(compact)
    if match is None:
        raise InvalidValue("is not a valid HKID number (expected a format like A123456(3))")
    prefix, digits, bracketed, bare = match.groups()
    check = bracketed if bracketed is not None else bare
    if check != hkid_check_digit(prefix, digits):
        raise InvalidValue("has an incorrect HKID check digit")
    return f"{prefix}{digits}({check})"


def normalize_tax_id(value: str) -> str:
    """Accept an 8-20 character tax file number (letters, digits, '-', '/', spaces); return it upper-cased."""
    text = _require_str(value).strip()
    if _TAX_ID_RE.fullmatch(text) is None:
        raise InvalidValue("must be 8-20 characters of letters, digits, '-', '/' or spaces")
    if not any(char.isdigit() for char in text):
        raise InvalidValue("must contain at least one digit")
    return text.upper()


def validate_date_of_birth(value: date, today: date | None = None) -> date:
    """Reject dates of birth in the future (Hong Kong date by default) or before 1900-01-01."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue("must be a date")
    if today is None:
        today = datetime.now(HONG_KONG_TZ).date()
    elif isinstance(today, datetime):
        today = today.date()
    if value > today:
        raise InvalidValue("must not be in the future")
    if value < MIN_DATE_OF_BIRTH:
        raise InvalidValue("must not be before 1900-01-01")
    return value


def normalize_linkedin_url(value: str) -> str:
    """Accept an http(s) URL on linkedin.com or a subdomain; return it as https without port/fragment."""
    text = _require_str(value).strip()
    if not text or len(text) > _MAX_URL_LENGTH:
        raise InvalidValue(f"must be a LinkedIn URL of at most {_MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs/newlines and browsers read "\" as "/": refuse them up front.
    if not text.isascii() or any(char.isspace() or not char.isprintable() or char == "\\" for char in text):
        raise InvalidValue("must be a LinkedIn URL without spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidValue("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidValue("must be an https:// LinkedIn URL")
    if "@" in parts.netloc:
        raise InvalidValue("must not contain user information")
    if port is not None and port not in (80, 443):
        raise InvalidValue("must not specify a port")
    host = (parts.hostname or "").removesuffix(".")
    if _LINKEDIN_HOST_RE.fullmatch(host) is None:
        raise InvalidValue("must be on linkedin.com")
    url = urlunsplit(("https", host, parts.path or "/", parts.query, ""))
    if len(url) > _MAX_URL_LENGTH:  # "http://" became "https://"
        raise InvalidValue(f"must be a LinkedIn URL of at most {_MAX_URL_LENGTH} characters")
    return url


def normalize_name(value: str, max_len: int = 200) -> str:
    """Strip and NFC-normalise a name; reject empty names, over-long names and control characters."""
    text = unicodedata.normalize("NFC", _require_str(value)).strip()
    if not text:
        raise InvalidValue("must not be empty")
    if len(text) > max_len:
        raise InvalidValue(f"must be at most {max_len} characters")
    for char in text:
        category = unicodedata.category(char)
        if category in _FORBIDDEN_NAME_CATEGORIES or (category == "Cf" and char not in _ALLOWED_FORMAT_CHARS):
            raise InvalidValue("must not contain control or invisible formatting characters")
    return text


def normalize_text(value: str, max_len: int) -> str:
    """Accept free text up to ``max_len`` characters without NUL or unpaired surrogates."""
    text = _require_str(value)
    if len(text) > max_len:
        raise InvalidValue(f"must be at most {max_len} characters")
    if "\x00" in text:
        raise InvalidValue("must not contain NUL characters")
    if any("\ud800" <= char <= "\udfff" for char in text):
        raise InvalidValue("must be valid Unicode text")
    return text


def validate_salary(value: int) -> int:
    """Accept an integer salary in HKD between 0 and 1,000,000,000 inclusive."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue("must be an integer")
    if not 0 <= value <= MAX_SALARY:
        raise InvalidValue(f"must be between 0 and {MAX_SALARY}")
    return value
