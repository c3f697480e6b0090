"""Unit and property tests for resolvers.validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolvers.contacts.validation import (
    InvalidValue,
    hkid_check_digit,
    normalize_email,
    normalize_hkid,
    normalize_linkedin_url,
    normalize_name,
    normalize_phone,
    normalize_tax_id,
    normalize_text,
    validate_date_of_birth,
    validate_salary,
)

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHECK_CHARS = "0123456789A"

hkid_prefixes = st.text(alphabet=UPPER, min_size=1, max_size=2)
hkid_digits = st.text(alphabet="0123456789", min_size=6, max_size=6)


def _reference_check_digit(prefix: str, digits: str) -> str:
    """Independent restatement of the published algorithm (weights 9..2, space = 36, 10 -> 'A')."""
    values = [36] if len(prefix) == 1 else []
    values += [ord(c) - 55 for c in prefix] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    remainder = (11 - total % 11) % 11
    return "A" if remainder == 10 else str(remainder)


# --- HKID -------------------------------------------------------------------------------------


def test_invalid_value_is_value_error() -> None:
    assert issubclass(InvalidValue, ValueError)


@pytest.mark.parametrize(
    ("prefix", "digits", "expected"),
    [
        ("A", "123456", "3"),  # the usual published example A123456(3)
        ("C", "668668", "9"),  # so C668668(E) is not a valid HKID at all
        ("XA", "000000", "8"),
        ("G", "123456", "A"),  # check value 10 is written as A
    ],
)
def test_hkid_check_digit_known_values(prefix: str, digits: str, expected: str) -> None:
    assert hkid_check_digit(prefix, digits) == expected
    assert _reference_check_digit(prefix, digits) == expected


@pytest.mark.parametrize(
    "raw",
    ["A123456(3)", "A1234563", "a123456 (3)", " a 123 456 ( 3 ) ", "A123456 3", "\tA123456(3)\n"],
)
def test_hkid_accepted_forms(raw: str) -> None:
    assert normalize_hkid(raw) == "A123456(3)"


def test_hkid_two_letter_and_a_check_digit() -> None:
    assert normalize_hkid("xa000000(8)") == "XA000000(8)"
    assert normalize_hkid("G123456a") == "G123456(A)"


@pytest.mark.parametrize(
    "raw",
    [
        "A123456(4)",  # wrong check digit
        "C668668(E)",  # E is never a check character
        "C668668(8)",
        "A12345(3)",  # too few digits
        "A1234567(3)",  # too many digits
        "ABC123456(3)",  # three letters
        "123456(3)",  # no letter
        "A123456",  # no check digit
        "A123456((3))",
        "A123456(3",  # unbalanced bracket is fine without brackets but not half of one
        "\uff21123456(3)",  # full-width letter A
        "\u017f123456(3)",  # long s: "\u017f".upper() == "S" must not sneak through
        "",
        "A123456(3)" * 5,
    ],
)
def test_hkid_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_hkid(raw)


def test_hkid_rejects_non_string() -> None:
    with pytest.raises(InvalidValue):
        normalize_hkid(1234563)  # type: ignore[arg-type]


@pytest.mark.parametrize(("prefix", "digits"), [("", "123456"), ("ABC", "123456"), ("A", "12345"), ("1", "123456")])
def test_hkid_check_digit_rejects_bad_parts(prefix: str, digits: str) -> None:
    with pytest.raises(InvalidValue):
        hkid_check_digit(prefix, digits)


@given(prefix=hkid_prefixes, digits=hkid_digits, lower=st.booleans())
def test_hkid_round_trip(prefix: str, digits: str, lower: bool) -> None:
    check = hkid_check_digit(prefix, digits)
    assert check == _reference_check_digit(prefix, digits)
    canonical = f"{prefix}{digits}({check})"
    bare = f"{prefix}{digits}{check}"
    if lower:
        bare = bare.lower()
    assert normalize_hkid(canonical) == canonical
    assert normalize_hkid(bare) == canonical
    assert normalize_hkid(f" {prefix} {digits[:3]} {digits[3:]} ({check}) ") == canonical
    assert normalize_hkid(normalize_hkid(bare)) == canonical


@given(prefix=hkid_prefixes, digits=hkid_digits, data=st.data())
def test_hkid_wrong_check_digit_rejected(prefix: str, digits: str, data: st.DataObject) -> None:
    right = hkid_check_digit(prefix, digits)
    wrong = data.draw(st.sampled_from([c for c in CHECK_CHARS if c != right]))
    with pytest.raises(InvalidValue):
        normalize_hkid(f"{prefix}{digits}({wrong})")
    with pytest.raises(InvalidValue):
        normalize_hkid(f"{prefix}{digits}{wrong}")


@given(st.text(max_size=40))
def test_hkid_arbitrary_text_only_raises_invalid_value(raw: str) -> None:
    try:
        result = normalize_hkid(raw)
    except InvalidValue:
        return
    assert result == normalize_hkid(result)
    assert result[-3] == "(" and result[-1] == ")"


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "9123 4567",
        "91234567",
        "+852 9123 4567",
        "+85291234567",
        "+852-9123-4567",
        "(852) 9123-4567",
        "9123.4567",
        # phonenumbers strips a leading default country code when the rest is a valid HK number
        # and the whole string is too long to be national, so the missing "+" is tolerated.
        "85291234567",
        "852 9123 4567",
        # full-width digits from Chinese input methods are folded to ASCII by phonenumbers.
        "\uff0b\uff18\uff15\uff12 \uff19\uff11\uff12\uff13 \uff14\uff15\uff16\uff17",
    ],
)
def test_phone_hk_mobile_forms(raw: str) -> None:
    assert normalize_phone(raw) == "+85291234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2123 4567", "+85221234567"),  # HK fixed line
        ("+44 20 7946 0958", "+442079460958"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("+39 06 1234 5678", "+390612345678"),  # Italian leading zero is kept
    ],
)
def test_phone_other_valid_numbers(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


def test_phone_default_region_is_used_for_national_numbers() -> None:
    assert normalize_phone("020 7946 0958", default_region="GB") == "+442079460958"
    with pytest.raises(InvalidValue):
        normalize_phone("020 7946 0958")  # not a valid HK number


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "1234 5678",  # HK numbers do not start with 1
        "4123 4567",  # nor 4
        "9123 456",  # too short
        "9123 45678",  # too long
        "+852 9123 456",
        # "008" is parsed as an HK international prefix, leaving +52 (Mexico) 91234567: invalid.
        "0085291234567",
        "9123-ABCD",  # phonenumbers would read this as a vanity number; we refuse letters
        "+1 800 FLOWERS",
        "9123 4567 ext 12",  # an extension would be silently lost in E.164
        "tel:+852-9123-4567",
        "call 9123 4567",
        "+852 9123 4567/8",
        "+852 9123 4567#",
        "+" + "9" * 60,
    ],
)
def test_phone_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_phone(raw)


@given(
    first=st.sampled_from("2356789"),
    rest=st.text(alphabet="0123456789", min_size=7, max_size=7),
    style=st.sampled_from(["{n}", "{a} {b}", "+852 {a} {b}", "+852{n}", "852{n}"]),
)
def test_phone_random_hk_numbers(first: str, rest: str, style: str) -> None:
    national = first + rest
    valid = phonenumbers.is_valid_number(phonenumbers.parse("+852" + national))
    raw = style.format(n=national, a=national[:4], b=national[4:])
    if valid:
        assert normalize_phone(raw) == "+852" + national
    else:
        with pytest.raises(InvalidValue):
            normalize_phone(raw)


@given(st.text(max_size=50))
def test_phone_arbitrary_text_only_raises_invalid_value(raw: str) -> None:
    try:
        result = normalize_phone(raw)
    except InvalidValue:
        return
    assert result.startswith("+") and result[1:].isdigit()
    assert normalize_phone(result) == result


# --- e-mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane@example.com", "jane@example.com"),
        ("Jane.Doe@EXAMPLE.COM", "Jane.Doe@example.com"),  # domain lower-cased, local part kept
        ("  chan.tai.man+crm@Example.com.hk ", "chan.tai.man+crm@example.com.hk"),
    ],
)
def test_email_normalised(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def test_email_long_local_part_is_accepted_outside_strict_mode() -> None:
    # email-validator 2.x enforces the RFC 5321 64-octet local-part limit only with strict=True.
    local = "a" * 65
    assert normalize_email(local + "@example.com") == local + "@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane@example",  # no TLD
        "jane doe@example.com",
        '"jane"@example.com',  # quoted local parts are refused by default
        "Jane <jane@example.com>",  # display names are refused
        "jane@example..com",
        "a" * 250 + "@example.com",  # over the 254-character address limit
        "x@" + "a" * 64 + ".com",  # DNS label over 63 characters
        "x@" + "a" * 320 + ".com",
    ],
)
def test_email_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_email(raw)


# --- date of birth ----------------------------------------------------------------------------


TODAY = date(2024, 6, 1)


def test_dob_accepts_past_and_today() -> None:
    assert validate_date_of_birth(date(1985, 3, 4), today=TODAY) == date(1985, 3, 4)
    assert validate_date_of_birth(TODAY, today=TODAY) == TODAY
    assert validate_date_of_birth(date(1900, 1, 1), today=TODAY) == date(1900, 1, 1)


@pytest.mark.parametrize("value", [date(2024, 6, 2), date(2100, 1, 1), date(1899, 12, 31), date(1, 1, 1)])
def test_dob_rejected(value: date) -> None:
    with pytest.raises(InvalidValue):
        validate_date_of_birth(value, today=TODAY)


def test_dob_future_rejected_with_real_clock() -> None:
    with pytest.raises(InvalidValue):
        validate_date_of_birth(date.today() + timedelta(days=2))
    assert validate_date_of_birth(date(1990, 1, 1)) == date(1990, 1, 1)


def test_dob_rejects_datetime_and_strings() -> None:
    with pytest.raises(InvalidValue):
        validate_date_of_birth(datetime(1985, 3, 4), today=TODAY)
    with pytest.raises(InvalidValue):
        validate_date_of_birth("1985-03-04", today=TODAY)  # type: ignore[arg-type]


@given(st.dates())
def test_dob_property(value: date) -> None:
    if date(1900, 1, 1) <= value <= TODAY:
        assert validate_date_of_birth(value, today=TODAY) == value
    else:
        with pytest.raises(InvalidValue):
            validate_date_of_birth(value, today=TODAY)


# --- LinkedIn ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.linkedin.com/in/chan-tai-man", "https://www.linkedin.com/in/chan-tai-man"),
        ("http://linkedin.com/in/chan", "https://linkedin.com/in/chan"),
        ("HTTPS://HK.LinkedIn.com/in/chan/", "https://hk.linkedin.com/in/chan/"),
        ("https://www.linkedin.com", "https://www.linkedin.com/"),
        ("https://www.linkedin.com:443/in/x?trk=1#frag", "https://www.linkedin.com/in/x?trk=1"),
        (" https://linkedin.com./in/x ", "https://linkedin.com/in/x"),
    ],
)
def test_linkedin_accepted(raw: str, expected: str) -> None:
    assert normalize_linkedin_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "https://linkedin.com.evil.com/in/x",
        "https://evillinkedin.com/in/x",
        "https://linkedin.co/in/x",
        "https://linkedin.com@evil.com/in/x",
        "https://user:pw@linkedin.com/in/x",
        "https://evil.com/linkedin.com",
        "https://evil.com?u=https://linkedin.com",
        "https://evil.com\\@linkedin.com",
        "https://evil.com\\.linkedin.com",
        "https://linkedin.com:8443/in/x",
        "https://linkedin.com:notaport/in/x",
        "https://[::1]/in/x",
        "https://[linkedin.com/in/x",
        "ftp://linkedin.com/in/x",
        "javascript://linkedin.com/%0aalert(1)",
        "linkedin.com/in/x",
        "//linkedin.com/in/x",
        "https:linkedin.com/in/x",
        "https://linked\tin.com/in/x",
        "https://linkedin.com/in/x\ny",
        "https://l\u0456nkedin.com/in/x",  # Cyrillic i
        "https://xn--lnkedin-8ve.com/in/x",
        "https://-bad.linkedin.com/in/x",
        "https://linkedin.com/" + "a" * 2100,
        "",
    ],
)
def test_linkedin_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_linkedin_url(raw)


@given(st.text(max_size=60))
def test_linkedin_arbitrary_text(raw: str) -> None:
    try:
        result = normalize_linkedin_url("https://" + raw)
    except InvalidValue:
        return
    host = result.split("/")[2]
    assert result.startswith("https://")
    assert host == "linkedin.com" or host.endswith(".linkedin.com")


# --- tax id -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12345678", "12345678"),
        (" 1234-5678-9 ", "1234-5678-9"),
        ("ab 123/4567", "AB 123/4567"),
        ("A" * 19 + "1", "A" * 19 + "1"),
    ],
)
def test_tax_id_accepted(raw: str, expected: str) -> None:
    assert normalize_tax_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "1234567",
        "1" * 21,
        "1234_5678",
        "1234.5678",
        "1234\t5678",
        "ABCDEFGH",
        "--------",
        "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
    ],
)
def test_tax_id_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_tax_id(raw)


# --- names and text ---------------------------------------------------------------------------


def test_name_normalised() -> None:
    assert normalize_name("  Chan Tai Man ") == "Chan Tai Man"
    assert normalize_name("陳大文") == "陳大文"
    assert normalize_name("Cafe\u0301") == "Caf\u00e9"  # NFC
    assert normalize_name("x" * 200) == "x" * 200


@pytest.mark.parametrize(
    "raw", ["", "   ", "Chan\x00", "Chan\nTai", "Chan\tTai", "Chan\u202eTai", "\u200b", "x" * 201, "A\u2028B"]
)
def test_name_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_name(raw)


def test_name_custom_max_len() -> None:
    assert normalize_name("abc", max_len=3) == "abc"
    with pytest.raises(InvalidValue):
        normalize_name("abcd", max_len=3)


def test_text() -> None:
    assert normalize_text("line1\nline2\ttab", 100) == "line1\nline2\ttab"
    assert normalize_text("", 10) == ""
    with pytest.raises(InvalidValue):
        normalize_text("a\x00b", 100)
    with pytest.raises(InvalidValue):
        normalize_text("abcd", 3)
    with pytest.raises(InvalidValue):
        normalize_text("bad \ud800", 100)


# --- salary -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 35_000, 1_000_000_000])
def test_salary_accepted(value: int) -> None:
    assert validate_salary(value) == value


@pytest.mark.parametrize("value", [-1, 1_000_000_001, True, 1.5, "100"])
def test_salary_rejected(value: object) -> None:
    with pytest.raises(InvalidValue):
        validate_salary(value)  # type: ignore[arg-type]
