"""The e-mail fast path (`validation._simple_email`, used by `normalize_email`) against email_validator itself: on
generated addresses (plain, near the length limits, special-use and IDNA domains, quoting, display names,
Unicode, stray characters) both accept the same addresses with the same normalised form and refuse the same
ones with the same message, whatever the domain cache holds."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from resolvers.contacts import validation
from resolvers.contacts.validation import InvalidValue, normalize_email

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_!#$%&'*+-/=?^`{|}~"
LABEL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
TLDS = ["com", "hk", "COM", "example", "local", "localhost", "test", "invalid", "onion", "arpa", "123", "c0m", "x",
        "xn--j6w193g", "xn--bcher-kva", "xn--zz", "-hk", "hk-", "co.uk", "in-addr.arpa", ""]
ODD = ["", ".", "..", "@", "@@", " ", "\t", '"', "\\", "<", ">", "(", ")", ",", ";", ":", "[", "]", "é", "\u0301",
       "\u200b", "\uff20", "xn--", "-", "a" * 64, "a" * 65, "b" * 63, "c" * 64, "\x00", "Ω", "ß", "ﬁ"]


def reference(text: str) -> str:
    """`normalize_email` before the fast path: email_validator on every address."""
    text = text.strip()
    if not text:
        raise InvalidValue("must not be empty")
    if len(text) > 320:
        raise InvalidValue("is too long")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidValue(f"is not a valid e-mail address: {exc}") from None


def outcome(fn: object, text: str) -> tuple[str, str]:
    try:
        return "ok", fn(text)  # type: ignore[operator]
    except InvalidValue as exc:
        return "refused", str(exc)


local_parts = st.one_of(
    st.text(ATEXT, min_size=1, max_size=20),
    st.lists(st.text(ATEXT, min_size=0, max_size=12), min_size=1, max_size=5).map(".".join),
    st.text(ATEXT + '."@ \\()<>[],;:é\u0301', min_size=0, max_size=30),
    st.sampled_from(["postmaster", "PostMaster", "abuse", "ABUSE", "hostmaster", "x" * 64, "x" * 65, "y" * 200]),
)
labels = st.one_of(
    st.text(LABEL, min_size=0, max_size=12),
    st.sampled_from(["a" * 63, "a" * 64, "xn--bcher-kva", "xn--", "-a", "a-", "a--b", "1", "\uff21\uff22\uff23",
                     "bücher"]),
)
domains = st.one_of(
    st.builds(lambda ls, tld: ".".join([*ls, tld]), st.lists(labels, min_size=0, max_size=4), st.sampled_from(TLDS)),
    st.builds(lambda n, tld: ".".join(["d" * 63] * n + [tld]), st.integers(1, 5), st.sampled_from(TLDS)),
    st.text(LABEL + ".[]:é_", min_size=0, max_size=30),
)
addresses = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains),
    st.builds(lambda a, b, c: a + b + c, st.sampled_from([*ODD, " ", "<", '"x" <']), st.builds(
        lambda local, domain: f"{local}@{domain}", local_parts, domains), st.sampled_from([*ODD, " ", ">"])),
    st.lists(st.sampled_from([*ATEXT[:10], *ODD, "@", ".", "com", "example.com"]), max_size=12).map("".join),
    st.text(max_size=40),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=addresses, cold=st.booleans())
@example(text="person1@import.example.com", cold=True)
@example(text="PostMaster@Example.COM", cold=False)
@example(text="x@xn--bcher-kva.example", cold=True)
@example(text="a@localhost", cold=True)
@example(text="a..b@example.com", cold=True)
@example(text=f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 59}.hk", cold=True)
@example(text=f"{'a' * 65}@example.com", cold=True)
def test_the_fast_path_accepts_and_refuses_what_email_validator_does(text: str, cold: bool) -> None:
    if cold:
        validation._EMAIL_DOMAINS.clear()
    assert outcome(normalize_email, text) == outcome(reference, text)


@pytest.mark.parametrize("text", ["person1@import.example.com", "A.B+tag@Sub.Example.COM", "o'neil@shop.hk"])
def test_plain_addresses_take_the_fast_path(text: str) -> None:
    assert validation._simple_email(text) == reference(text)


def test_the_domain_cache_stays_bounded() -> None:
    validation._EMAIL_DOMAINS.clear()
    for i in range(validation._EMAIL_DOMAINS_MAX + 5):
        assert normalize_email(f"a@d{i}.example.com") == f"a@d{i}.example.com"
    assert len(validation._EMAIL_DOMAINS) <= validation._EMAIL_DOMAINS_MAX
