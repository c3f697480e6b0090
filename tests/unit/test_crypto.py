"""Unit tests for db.crypto: field encryption, key wrapping, blind indexes and rotation."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.crypto import (
    FORMAT_VERSION,
    DecryptionError,
    FieldLocation,
    WorkspaceCipher,
    generate_data_key,
    generate_index_key,
    key_version_of,
    unwrap_data_key,
    unwrap_index_key,
    unwrap_secret,
    wrap_data_key,
    wrap_index_key,
    wrap_secret,
)

MASTER = "test master key: not a real secret"
K1 = bytes(range(32))
K2 = bytes(range(32, 64))
IDX = bytes(range(64, 96))
ROW = str(uuid.UUID(int=1))
LOC = FieldLocation("contacts", "hkid", ROW)


def cipher(
    slug: str = "acme", *, keys: dict[int, bytes] | None = None, current: int = 1, index_key: bytes = IDX
) -> WorkspaceCipher:
    return WorkspaceCipher(slug, keys if keys is not None else {1: K1}, current, index_key)


# -- round trips ---------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.text())
def test_str_round_trip(value: str) -> None:
    c = cipher()
    assert c.decrypt_str(LOC, c.encrypt_str(LOC, value)) == value


@given(st.integers())
def test_int_round_trip(value: int) -> None:
    c = cipher()
    assert c.decrypt_int(LOC, c.encrypt_int(LOC, value)) == value


@given(st.dates())
def test_date_round_trip(value: date) -> None:
    c = cipher()
    assert c.decrypt_date(LOC, c.encrypt_date(LOC, value)) == value


@given(st.binary())
def test_bytes_round_trip(value: bytes) -> None:
    c = cipher()
    blob = c.encrypt(LOC, value)
    assert len(blob) == 1 + 4 + 12 + len(value) + 16
    assert c.decrypt(LOC, blob) == value


def test_none_passes_through() -> None:
    c = cipher()
    assert c.encrypt_str(LOC, None) is None
    assert c.decrypt_str(LOC, None) is None
    assert c.encrypt_int(LOC, None) is None
    assert c.decrypt_int(LOC, None) is None
    assert c.encrypt_date(LOC, None) is None
    assert c.decrypt_date(LOC, None) is None


def test_typed_helpers_reject_lookalike_types() -> None:
    c = cipher()
    with pytest.raises(TypeError):
        c.encrypt_int(LOC, True)
    with pytest.raises(TypeError):
        c.encrypt_date(LOC, datetime(2024, 1, 2, 3, 4))
    with pytest.raises(DecryptionError):
        c.decrypt_int(LOC, c.encrypt_str(LOC, "not a number"))
    with pytest.raises(DecryptionError):
        c.decrypt_date(LOC, c.encrypt_str(LOC, "not a date"))
    with pytest.raises(DecryptionError):
        c.decrypt_str(LOC, c.encrypt(LOC, b"\xff\xfe"))


def test_same_value_encrypts_differently() -> None:
    c = cipher()
    a, b = c.encrypt_str(LOC, "A123456(7)"), c.encrypt_str(LOC, "A123456(7)")
    assert a != b
    assert a[5:17] != b[5:17]  # distinct nonces
    assert c.decrypt_str(LOC, a) == c.decrypt_str(LOC, b) == "A123456(7)"


# -- misplaced and tampered ciphertexts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        FieldLocation("contacts", "hkid", str(uuid.UUID(int=2))),
        FieldLocation("contacts", "phone", ROW),
        FieldLocation("leads", "hkid", ROW),
    ],
    ids=["row", "column", "table"],
)
def test_moved_ciphertext_fails(other: FieldLocation) -> None:
    c = cipher()
    blob = c.encrypt_str(LOC, "A123456(7)")
    with pytest.raises(DecryptionError):
        c.decrypt(other, blob)


def test_ciphertext_moved_to_another_workspace_fails_even_with_the_same_keys() -> None:
    blob = cipher("acme").encrypt_str(LOC, "A123456(7)")
    with pytest.raises(DecryptionError):
        cipher("globex").decrypt(LOC, blob)


def test_length_prefixed_ad_has_no_separator_collisions() -> None:
    c = cipher("a")
    blob = c.encrypt(FieldLocation("t", "c|x", "r"), b"v")
    with pytest.raises(DecryptionError):
        c.decrypt(FieldLocation("t|c", "x", "r"), blob)


def test_every_tampered_byte_fails() -> None:
    c = cipher()
    blob = c.encrypt_str(LOC, "secret")
    for i in range(len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= mask
            with pytest.raises(DecryptionError):
                c.decrypt(LOC, bytes(tampered))


def test_truncated_or_extended_fails() -> None:
    c = cipher()
    blob = c.encrypt_str(LOC, "secret")
    for n in range(len(blob)):
        with pytest.raises(DecryptionError):
            c.decrypt(LOC, blob[:n])
    with pytest.raises(DecryptionError):
        c.decrypt(LOC, blob + b"\x00")


def test_wrong_data_key_fails() -> None:
    blob = cipher(keys={1: K1}).encrypt_str(LOC, "secret")
    with pytest.raises(DecryptionError):
        cipher(keys={1: K2}).decrypt(LOC, blob)


def test_unknown_key_version_fails() -> None:
    blob = cipher(keys={1: K1, 2: K2}, current=2).encrypt_str(LOC, "secret")
    with pytest.raises(DecryptionError, match="v2"):
        cipher(keys={1: K1}).decrypt(LOC, blob)


# -- format and rotation --------------------------------------------------------------------------------


def test_key_version_of() -> None:
    blob = cipher(keys={1: K1, 7: K2}, current=7).encrypt_str(LOC, "x")
    assert blob[0] == FORMAT_VERSION
    assert blob[1:5] == (7).to_bytes(4, "big")
    assert key_version_of(blob) == 7
    assert key_version_of(cipher().encrypt_str(LOC, "")) == 1
    with pytest.raises(DecryptionError):
        key_version_of(b"\x01\x00")
    with pytest.raises(DecryptionError):
        key_version_of(b"\x02" + blob[1:])


def test_reencrypt_moves_blob_to_current_version() -> None:
    old = cipher(keys={1: K1}).encrypt_str(LOC, "A123456(7)")
    rotating = cipher(keys={1: K1, 2: K2}, current=2)
    new = rotating.reencrypt(LOC, old)
    assert key_version_of(old) == 1
    assert key_version_of(new) == 2
    assert rotating.decrypt_str(LOC, new) == "A123456(7)"
    assert rotating.decrypt_str(LOC, old) == "A123456(7)"  # old rows stay readable mid-rotation
    # After rotation the old key can be dropped and the new blob is still readable.
    assert cipher(keys={2: K2}, current=2).decrypt_str(LOC, new) == "A123456(7)"
    # Re-running on an already rotated blob (resumed job) is harmless.
    assert key_version_of(rotating.reencrypt(LOC, new)) == 2
    with pytest.raises(DecryptionError):
        rotating.reencrypt(FieldLocation("contacts", "hkid", "other"), old)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        WorkspaceCipher("acme", {1: K1}, 2, IDX)
    with pytest.raises(ValueError):
        WorkspaceCipher("acme", {1: b"short"}, 1, IDX)
    with pytest.raises(ValueError):
        WorkspaceCipher("acme", {1: K1}, 1, b"short")
    with pytest.raises(ValueError):
        WorkspaceCipher("", {1: K1}, 1, IDX)
    with pytest.raises(ValueError):
        FieldLocation("contacts", "hkid", "")
    assert "K1" not in repr(cipher()) and K1.hex() not in repr(cipher())


# -- key wrapping ---------------------------------------------------------------------------------------


def test_generated_keys() -> None:
    assert len(generate_data_key()) == 32
    assert len(generate_index_key()) == 32
    assert generate_data_key() != generate_data_key()


def test_data_key_wrap_round_trip() -> None:
    key = generate_data_key()
    wrapped = wrap_data_key(MASTER, "acme", key, 3)
    assert key not in wrapped
    assert unwrap_data_key(MASTER, "acme", wrapped, 3) == key
    assert wrap_data_key(MASTER, "acme", key, 3) != wrapped


def test_wrong_master_key_cannot_unwrap() -> None:
    wrapped = wrap_data_key(MASTER, "acme", K1, 1)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MASTER + "x", "acme", wrapped, 1)
    wrapped_index = wrap_index_key(MASTER, "acme", IDX)
    with pytest.raises(DecryptionError):
        unwrap_index_key("another master", "acme", wrapped_index)


def test_wrapped_key_is_bound_to_slug_version_and_label() -> None:
    wrapped = wrap_data_key(MASTER, "acme", K1, 1)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MASTER, "globex", wrapped, 1)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MASTER, "acme", wrapped, 2)
    with pytest.raises(DecryptionError):
        unwrap_index_key(MASTER, "acme", wrapped)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MASTER, "acme", wrap_index_key(MASTER, "acme", IDX), 1)
    tampered = bytearray(wrapped)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        unwrap_data_key(MASTER, "acme", bytes(tampered), 1)
    with pytest.raises(DecryptionError):
        unwrap_data_key(MASTER, "acme", b"", 1)


def test_generic_secret_wrapping() -> None:
    wrapped = wrap_secret(MASTER, "acme", "data-key", K1, 5)
    assert unwrap_data_key(MASTER, "acme", wrapped, 5) == K1
    assert unwrap_secret(MASTER, "acme", "index-key", wrap_index_key(MASTER, "acme", IDX)) == IDX
    with pytest.raises(ValueError):
        wrap_secret(MASTER, "acme", "bad|label", K1)
    with pytest.raises(ValueError):
        wrap_secret("", "acme", "data-key", K1)
    with pytest.raises(ValueError):
        wrap_data_key(MASTER, "acme", b"short", 1)


# -- blind index and suppression hash ---------------------------------------------------------------------


def test_blind_index_equal_for_equal_values() -> None:
    a = cipher().blind_index("contacts", "hkid", "A1234567")
    assert len(a) == 32
    assert a == cipher().blind_index("contacts", "hkid", "A1234567")
    assert a != cipher().blind_index("contacts", "hkid", "A1234568")


def test_blind_index_differs_across_fields_and_workspaces() -> None:
    c = cipher()
    base = c.blind_index("contacts", "hkid", "A1234567")
    assert base != c.blind_index("contacts", "passport", "A1234567")
    assert base != c.blind_index("leads", "hkid", "A1234567")
    other_workspace = cipher("globex", keys={1: generate_data_key()}, index_key=generate_index_key())
    assert base != other_workspace.blind_index("contacts", "hkid", "A1234567")


def test_blind_index_depends_on_the_index_key_not_a_plain_hash() -> None:
    assert cipher(index_key=K1).blind_index("contacts", "hkid", "A1") != cipher(index_key=K2).blind_index(
        "contacts", "hkid", "A1"
    )


def test_blind_index_and_suppression_hash_stable_across_rotation() -> None:
    before = cipher(keys={1: K1}, current=1)
    during = cipher(keys={1: K1, 2: K2}, current=2)
    after = cipher(keys={2: K2}, current=2)
    expected = before.blind_index("contacts", "hkid", "A1234567")
    for c in (during, after):
        assert c.blind_index("contacts", "hkid", "A1234567") == expected
        assert c.suppression_hash("email", "a@b.hk") == before.suppression_hash("email", "a@b.hk")


def test_suppression_hash() -> None:
    c = cipher()
    h = c.suppression_hash("email", "a@b.hk")
    assert len(h) == 32
    assert h == c.suppression_hash("email", "a@b.hk")
    assert h != c.suppression_hash("phone", "a@b.hk")
    assert h != c.blind_index("contacts", "email", "a@b.hk")
    with pytest.raises(ValueError):
        c.suppression_hash("", "x")
    with pytest.raises(ValueError):
        c.blind_index("contacts", "a|b", "x")


@settings(max_examples=60)
@given(
    text=st.text(max_size=40),
    number=st.integers(min_value=-(10**12), max_value=10**12),
    day=st.dates(),
    row=st.uuids(),
)
def test_column_decryptor_reads_what_the_typed_helpers_read(text: str, number: int, day: date, row: uuid.UUID) -> None:
    c = cipher(keys={1: K1, 2: K2}, current=2)
    old = cipher(keys={1: K1}, current=1)  # a value written before the rotation still reads
    rid = str(row)
    for kind, value, enc, dec in (
        ("str", text, c.encrypt_str, c.decrypt_str),
        ("int", number, c.encrypt_int, c.decrypt_int),
        ("date", day, c.encrypt_date, c.decrypt_date),
    ):
        loc = FieldLocation("contacts", f"{kind}_enc", rid)
        read = c.column_decryptor("contacts", f"{kind}_enc", kind)
        for blob in (enc(loc, value), getattr(old, f"encrypt_{kind}")(loc, value)):  # type: ignore[operator]
            assert read(rid, blob) == dec(loc, blob) == value
        assert read(rid, None) is None


def test_column_decryptor_refuses_what_decrypt_refuses() -> None:
    c = cipher()
    blob = c.encrypt_str(LOC, "A123456(3)")
    read = c.column_decryptor(LOC.table, LOC.column)
    assert read(ROW, blob) == "A123456(3)"  # the decryptor now knows this blob's header (format and key version)
    with pytest.raises(DecryptionError, match="does not authenticate"):
        read(str(uuid.UUID(int=2)), blob)  # moved to another row
    with pytest.raises(DecryptionError, match="does not authenticate"):
        c.column_decryptor(LOC.table, "other")(ROW, blob)  # moved to another column
    with pytest.raises(DecryptionError, match="too short"):
        read(ROW, blob[:10])
    for _ in range(2):  # a refused header is refused every time, never remembered
        with pytest.raises(DecryptionError, match="unsupported ciphertext format"):
            read(ROW, bytes([FORMAT_VERSION + 1]) + blob[1:])
        with pytest.raises(DecryptionError, match="no data key v7"):
            read(ROW, blob[:1] + (7).to_bytes(4, "big") + blob[5:])
    with pytest.raises(ValueError):
        read("", blob)
    with pytest.raises(DecryptionError, match="not an integer"):
        c.column_decryptor(LOC.table, LOC.column, "int")(ROW, blob)
