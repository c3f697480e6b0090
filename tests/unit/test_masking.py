"""Unit and property tests for authz.masking: exact outputs, no leakage, and totality."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from authz.masking import (
    MASKERS,
    mask_date_of_birth,
    mask_email,
    mask_free_text,
    mask_hkid,
    mask_name,
    mask_online_identifier,
    mask_phone,
    mask_salary,
    mask_tax_id,
    mask_value,
    masker,
)
from resolvers.contacts.validation import hkid_check_digit

EXPECTED_KINDS = {
    "phone",
    "email",
    "hkid",
    "tax_id",
    "date_of_birth",
    "salary",
    "free_text",
    "name",
    "online_identifier",
}

anything = st.one_of(
    st.none(),
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
)


# --- exact examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+85291234567", "+852 ****4567"),
        ("+85221234567", "+852 ****4567"),
        ("+442079460958", "+44 ****0958"),
        ("+8613800138000", "+86 ****8000"),
        ("+390612345678", "+39 ****5678"),
        ("+6831234", "+683 ****34"),  # Niue: 4 national digits, keep only the last 2
        ("+35621234567", "+356 ****4567"),  # Malta: 8 national digits
        ("+3541234567", "+354 ****67"),  # Iceland: 7 national digits
    ],
)
def test_mask_phone_examples(value: str, expected: str) -> None:
    assert mask_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "91234567",
        "+",
        "+852",
        "+85212",
        "+999123456789",
        "+852 9123 4567",
        "phone",
        "+\uff18\uff15\uff1291234567",
    ],
)
def test_mask_phone_malformed(value: str) -> None:
    assert mask_phone(value) == "[hidden]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane@example.com", "j***@example.com"),
        ("J@example.com.hk", "J***@example.com.hk"),
        ("chan.tai.man+crm@mail.example.org", "c***@mail.example.org"),
        ("陳@例子.香港", "陳***@例子.香港"),
    ],
)
def test_mask_email_examples(value: str, expected: str) -> None:
    assert mask_email(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "jane", "@example.com", "jane@", "jane@localhost", "jane@exa mple.com", "jane@a..com", " @x.com"],
)
def test_mask_email_malformed(value: str) -> None:
    assert mask_email(value) == "[hidden]"


LABEL = re.compile(r"[^\W_](?:[\w-]*[^\W_])?")


@given(st.text(alphabet=st.sampled_from("ab-_.1é香 \n"), max_size=24))
def test_mask_email_checks_the_domain_label_by_label(domain: str) -> None:
    """The one-regex domain check agrees with its definition: two dot-separated labels or more, each a word
    character, then word characters or hyphens ending in a word character."""
    labels = domain.rstrip().split(".")  # mask_email strips the address: the end of the domain
    valid = len(labels) >= 2 and all(LABEL.fullmatch(label) for label in labels)
    assert (mask_email(f"jane@{domain}") != "[hidden]") == valid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A123456(3)", "A123***(*)"),
        ("XA000000(8)", "XA000***(*)"),
        ("G123456(A)", "G123***(*)"),
        ("a1234563", "A123***(*)"),  # non-canonical stored form is still masked, not leaked
    ],
)
def test_mask_hkid_examples(value: str, expected: str) -> None:
    assert mask_hkid(value) == expected


@pytest.mark.parametrize("value", ["", "A12345(3)", "123456(3)", "ABC123456(3)", "A123456(B)", "not an id"])
def test_mask_hkid_malformed(value: str) -> None:
    assert mask_hkid(value) == "[hidden]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12345678", "*****678"),
        ("ABC-1234-5678-9012", "*****012"),
        ("12/3456789", "*****789"),
    ],
)
def test_mask_tax_id_examples(value: str, expected: str) -> None:
    assert mask_tax_id(value) == expected


def test_mask_tax_id_star_count_is_fixed() -> None:
    assert len(mask_tax_id("12345678")) == len(mask_tax_id("12345678901234567890")) == 8


@pytest.mark.parametrize("value", ["", "123", "1234567", "1" * 21, "1234\n5678"])
def test_mask_tax_id_malformed(value: str) -> None:
    assert mask_tax_id(value) == "[hidden]"


def test_mask_date_of_birth() -> None:
    assert mask_date_of_birth(date(1985, 3, 4)) == "1985-**-**"
    assert mask_date_of_birth(date(1, 1, 1)) == "0001-**-**"
    assert mask_date_of_birth(datetime(1985, 3, 4, 12, 30)) == "1985-**-**"
    assert mask_date_of_birth("1985-03-04") == "1985-**-**"  # type: ignore[arg-type]
    assert mask_date_of_birth("04/03/1985") == "[hidden]"  # type: ignore[arg-type]
    assert mask_date_of_birth(19850304) == "[hidden]"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "HK$0-9,999"),
        (9_999, "HK$0-9,999"),
        (10_000, "HK$10,000-19,999"),
        (30_000, "HK$30,000-39,999"),
        (35_500, "HK$30,000-39,999"),
        (99_999, "HK$90,000-99,999"),
        (100_000, "HK$100,000-149,999"),
        (149_999, "HK$100,000-149,999"),
        (150_000, "HK$150,000-199,999"),
        (499_999, "HK$450,000-499,999"),
        (500_000, "HK$500,000+"),
        (1_000_000_000, "HK$500,000+"),
        (35_500.75, "HK$30,000-39,999"),
        (Decimal("120000.50"), "HK$100,000-149,999"),
    ],
)
def test_mask_salary_bands(value: int, expected: str) -> None:
    assert mask_salary(value) == expected


@pytest.mark.parametrize(
    "value", [-1, True, False, float("nan"), float("inf"), Decimal("NaN"), Decimal("sNaN"), "35000", None]
)
def test_mask_salary_malformed(value: object) -> None:
    assert mask_salary(value) == "[hidden]"  # type: ignore[arg-type]


def test_mask_simple_kinds() -> None:
    assert mask_free_text("Customer mentioned a medical condition") == "[hidden]"
    assert mask_name("Chan Tai Man") == "C."
    assert mask_name("  chan") == "c."
    assert mask_name("陳大文") == "陳."
    assert mask_name("") == "[hidden]"
    assert mask_name("\u202eevil") == "[hidden]"
    assert mask_online_identifier("https://www.linkedin.com/in/chan") == "[hidden link]"


def test_maskers_registry() -> None:
    assert set(MASKERS) == EXPECTED_KINDS
    assert MASKERS["phone"] is mask_phone
    assert MASKERS["hkid"] is mask_hkid


def test_mask_value() -> None:
    assert mask_value("phone", None) is None
    assert mask_value("phone", "+85291234567") == "+852 ****4567"
    assert mask_value("hkid", "A123456(3)") == "A123***(*)"
    assert mask_value("salary", 35_000) == "HK$30,000-39,999"
    assert mask_value("no_such_kind", "secret 91234567") == "[hidden]"  # unknown kinds fail closed
    assert mask_value("", "secret") == "[hidden]"
    assert mask_value(None, "secret") == "[hidden]"  # type: ignore[arg-type]


# --- leakage properties -----------------------------------------------------------------------


def _valid_hk_numbers() -> st.SearchStrategy[str]:
    national = st.builds(
        lambda first, rest: first + rest,
        st.sampled_from("235689"),
        st.text(alphabet="0123456789", min_size=7, max_size=7),
    )
    return national.filter(lambda n: phonenumbers.is_valid_number(phonenumbers.parse("+852" + n)))


@given(_valid_hk_numbers())
def test_mask_phone_reveals_only_country_code_and_last_four(national: str) -> None:
    masked = mask_phone("+852" + national)
    assert masked == f"+852 ****{national[-4:]}"
    assert re.findall(r"\d+", masked) == ["852", national[-4:]]
    assert national[:4] not in masked.replace("+852", "")


@given(st.sampled_from(["44", "86", "1", "61", "65", "81"]), st.integers(min_value=10**6, max_value=10**12))
def test_mask_phone_any_country_keeps_at_most_four_digits(country: str, national_number: int) -> None:
    masked = mask_phone(f"+{country}{national_number}")
    if masked == "[hidden]":
        return
    code, rest = masked.split(" ")
    assert code.startswith("+") and code[1:].isdigit()
    assert rest.startswith("****")
    revealed = rest[4:]
    assert revealed.isdigit() and len(revealed) in (2, 4)
    assert str(national_number).endswith(revealed)


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)
def test_mask_hkid_hides_last_digits_and_check(prefix: str, digits: str) -> None:
    check = hkid_check_digit(prefix, digits)
    masked = mask_hkid(f"{prefix}{digits}({check})")
    assert masked == f"{prefix}{digits[:3]}***(*)"
    assert re.findall(r"\d", masked) == list(digits[:3])
    assert check not in masked[len(prefix) + 3 :]


@given(st.from_regex(r"[A-Z0-9][A-Z0-9/\- ]{6,18}[A-Z0-9]", fullmatch=True))
def test_mask_tax_id_reveals_only_last_three(value: str) -> None:
    masked = mask_tax_id(value)
    assert masked == "*****" + value[-3:]
    assert len(masked) == 8


@given(st.emails())
def test_mask_email_reveals_only_first_char_and_domain(email: str) -> None:
    masked = mask_email(email)
    local, domain = email.rsplit("@", 1)
    if masked == "[hidden]":
        return
    assert masked == f"{local[0]}***@{domain}"


@given(st.dates())
def test_mask_dob_reveals_year_only(value: date) -> None:
    masked = mask_date_of_birth(value)
    assert masked == f"{value.year:04d}-**-**"


@given(st.integers(min_value=0, max_value=1_000_000_000))
def test_mask_salary_band_contains_value(value: int) -> None:
    masked = mask_salary(value)
    assert masked.startswith("HK$")
    if value >= 500_000:
        assert masked == "HK$500,000+"
        return
    low, high = (int(part.replace(",", "")) for part in masked[3:].split("-"))
    assert low <= value <= high
    assert high - low + 1 == (10_000 if value < 100_000 else 50_000)
    assert low % 10_000 == 0


@given(st.text(min_size=1))
def test_mask_name_reveals_one_character(value: str) -> None:
    masked = mask_name(value)
    assume(masked != "[hidden]")
    assert len(masked) == 2 and masked.endswith(".")
    assert masked[0] == value.strip()[0]


# --- totality ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXPECTED_KINDS))
@given(value=st.text())
def test_maskers_never_raise_on_text(kind: str, value: str) -> None:
    result = MASKERS[kind](value)
    assert isinstance(result, str) and result


@pytest.mark.parametrize("kind", sorted(EXPECTED_KINDS))
@given(value=anything)
def test_maskers_never_raise_on_anything(kind: str, value: object) -> None:
    result = MASKERS[kind](value)
    assert isinstance(result, str) and result


@given(kind=st.text(), value=anything)
def test_mask_value_total(kind: str, value: object) -> None:
    result = mask_value(kind, value)
    if value is None:
        assert result is None
    else:
        assert isinstance(result, str) and result


@given(st.text())
def test_unknown_kind_reveals_nothing(value: str) -> None:
    assert mask_value("unknown", value) == "[hidden]"


@given(kind=st.sampled_from([*MASKERS, "unknown kind"]), value=st.one_of(
    st.none(), st.text(max_size=30), st.integers(), st.dates(), st.emails(), st.floats(allow_nan=True)))
def test_masker_masks_as_mask_value(kind: str, value: object) -> None:
    assert masker(kind)(value) == mask_value(kind, value)
