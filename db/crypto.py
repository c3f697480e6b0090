"""Application-level encryption of high-risk PII at rest (PDPO), with blind indexes for exact lookups.

Key hierarchy: `CRM_MASTER_KEY` (a string) -> HKDF-SHA256 key-encryption key -> per-workspace secrets,
each stored only wrapped (AES-256-GCM) by that key:

* data keys (32 bytes, versioned, rotated): encrypt field values with AES-256-GCM;
* one index key (32 bytes, never rotated): HMAC key material for blind indexes and suppression hashes,
  so that lookups stay valid across data-key rotation.

Field ciphertext layout (store as `bytea`)::

    1 byte format version (1) | 4 bytes key version (big-endian uint32) | 12-byte nonce | ciphertext+tag

The associated data binds workspace slug, table, column, row id and key version, so a ciphertext copied to
another row, column, table or workspace fails with `DecryptionError` instead of yielding wrong data. The
row id must therefore be known before the INSERT (generate UUIDs in the application). AES-GCM does not hide
the plaintext length.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DATA_KEY_LABEL",
    "FORMAT_VERSION",
    "INDEX_KEY_LABEL",
    "KEY_SIZE",
    "DecryptionError",
    "FieldLocation",
    "WorkspaceCipher",
    "generate_data_key",
    "generate_index_key",
    "key_version_of",
    "unwrap_data_key",
    "unwrap_index_key",
    "unwrap_secret",
    "wrap_data_key",
    "wrap_index_key",
    "wrap_secret",
]

KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
FORMAT_VERSION: Final = 1
DATA_KEY_LABEL: Final = "data-key"
INDEX_KEY_LABEL: Final = "index-key"
INDEX_KEY_VERSION: Final = 1
MAX_KEY_VERSION: Final = 0xFFFFFFFF

_HEADER: Final = struct.Struct(">BI")
_HEADER_SIZE: Final = _HEADER.size  # 5
_MIN_BLOB_SIZE: Final = _HEADER_SIZE + NONCE_SIZE + TAG_SIZE
_NONCE_END: Final = _HEADER_SIZE + NONCE_SIZE
_WRAP_FORMAT: Final = b"\x01"
_LENGTH: Final = struct.Struct(">I")
_MASTER_INFO: Final = b"crm master kek v1"
_FIELD_AD_PREFIX: Final = b"crm-field|"
_BLIND_INDEX_INFO: Final = b"crm blind index|"
_SUPPRESSION_INFO: Final = b"crm suppression|"


class DecryptionError(Exception):
    """A ciphertext or wrapped key is malformed, tampered with, misplaced, or its key is unavailable."""


@dataclass(frozen=True)
class FieldLocation:
    """Where a ciphertext lives; bound into its associated data."""

    table: str
    column: str
    row_id: str

    def __post_init__(self) -> None:
        if not self.table or not self.column or not self.row_id:
            raise ValueError("FieldLocation needs a non-empty table, column and row_id")


def _check_version(version: int) -> None:
    if isinstance(version, bool) or not 0 <= version <= MAX_KEY_VERSION:
        raise ValueError(f"key version must be a uint32, got {version!r}")


def _check_name(kind: str, value: str) -> None:
    if not value or "|" in value:
        raise ValueError(f"{kind} must be non-empty and must not contain '|': {value!r}")


def _hkdf(key_material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(key_material)


def _master_kek(master_key: str) -> AESGCM:
    if not master_key:
        raise ValueError("master key must not be empty")
    return AESGCM(_hkdf(master_key.encode("utf-8"), _MASTER_INFO))


def _wrap_ad(slug: str, label: str, version: int) -> bytes:
    _check_name("label", label)
    if not slug:
        raise ValueError("workspace slug must not be empty")
    _check_version(version)
    # The label has no '|' and the version is an integer, so the slug in between is unambiguous.
    return b"crm-" + label.encode() + b"|" + slug.encode() + b"|" + str(version).encode()


def generate_data_key() -> bytes:
    """A fresh random 32-byte AES-256 data key."""
    return os.urandom(KEY_SIZE)


def generate_index_key() -> bytes:
    """A fresh random 32-byte blind-index key (created once per workspace, never rotated)."""
    return os.urandom(KEY_SIZE)


def wrap_secret(master_key: str, slug: str, label: str, secret: bytes, version: int = 1) -> bytes:
    """Encrypt `secret` under the master key; AD = b"crm-" + label + b"|" + slug + b"|" + version."""
    if not secret:
        raise ValueError("secret must not be empty")
    ad = _wrap_ad(slug, label, version)
    nonce = os.urandom(NONCE_SIZE)
    return _WRAP_FORMAT + nonce + _master_kek(master_key).encrypt(nonce, secret, ad)


def unwrap_secret(master_key: str, slug: str, label: str, wrapped: bytes, version: int = 1) -> bytes:
    """Inverse of `wrap_secret`; `DecryptionError` on any wrong input or tampering."""
    ad = _wrap_ad(slug, label, version)
    if len(wrapped) < 1 + NONCE_SIZE + TAG_SIZE or wrapped[:1] != _WRAP_FORMAT:
        raise DecryptionError(f"malformed wrapped {label} for workspace {slug!r}")
    nonce = wrapped[1 : 1 + NONCE_SIZE]
    try:
        return _master_kek(master_key).decrypt(nonce, wrapped[1 + NONCE_SIZE :], ad)
    except InvalidTag:
        raise DecryptionError(f"cannot unwrap {label} v{version} for workspace {slug!r}") from None


def _check_key(kind: str, key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{kind} must be {KEY_SIZE} bytes, got {len(key)}")


def wrap_data_key(master_key: str, slug: str, data_key: bytes, key_version: int) -> bytes:
    _check_key("data key", data_key)
    return wrap_secret(master_key, slug, DATA_KEY_LABEL, data_key, key_version)


def unwrap_data_key(master_key: str, slug: str, wrapped: bytes, key_version: int) -> bytes:
    key = unwrap_secret(master_key, slug, DATA_KEY_LABEL, wrapped, key_version)
    if len(key) != KEY_SIZE:
        raise DecryptionError("unwrapped data key has the wrong length")
    return key


def wrap_index_key(master_key: str, slug: str, index_key: bytes) -> bytes:
    _check_key("index key", index_key)
    return wrap_secret(master_key, slug, INDEX_KEY_LABEL, index_key, INDEX_KEY_VERSION)


def unwrap_index_key(master_key: str, slug: str, wrapped: bytes) -> bytes:
    key = unwrap_secret(master_key, slug, INDEX_KEY_LABEL, wrapped, INDEX_KEY_VERSION)
    if len(key) != KEY_SIZE:
        raise DecryptionError("unwrapped index key has the wrong length")
    return key


def key_version_of(blob: bytes) -> int:
    """The data-key version a field ciphertext was made with, read from its header without decrypting."""
    if len(blob) < _MIN_BLOB_SIZE:
        raise DecryptionError("ciphertext too short")
    fmt, version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_VERSION:
        raise DecryptionError(f"unsupported ciphertext format {fmt}")
    return int(version)


def _utf8(plain: bytes) -> str:
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("plaintext is not UTF-8") from None


def _integer(plain: bytes) -> int:
    try:
        return int(_utf8(plain))
    except ValueError:
        raise DecryptionError("plaintext is not an integer") from None


def _iso_date(plain: bytes) -> date:
    try:
        return date.fromisoformat(_utf8(plain))
    except ValueError:
        raise DecryptionError("plaintext is not an ISO date") from None


# How `column_decryptor` turns a plaintext into its value, by kind (as decrypt_str / decrypt_int / decrypt_date).
_PLAINTEXT_CONVERTERS: Final[dict[str, Callable[[bytes], Any]]] = {"str": _utf8, "int": _integer, "date": _iso_date}


def _field_ad(slug: bytes, loc: FieldLocation, header: bytes) -> bytes:
    parts = [_FIELD_AD_PREFIX, header]
    # Length-prefixed components: no separator in a name can make two locations collide.
    for part in (slug, loc.table.encode(), loc.column.encode(), loc.row_id.encode()):
        parts.append(_LENGTH.pack(len(part)))
        parts.append(part)
    return b"".join(parts)


class WorkspaceCipher:
    """Field encryption, blind indexes and suppression hashes for one workspace.

    `keys` maps data-key version -> unwrapped data key; during rotation it holds both old and new
    versions. New ciphertexts use `current_version`. `index_key` is the workspace's stable index key.
    """

    current_version: int

    def __init__(self, slug: str, keys: Mapping[int, bytes], current_version: int, index_key: bytes) -> None:
        if not slug:
            raise ValueError("workspace slug must not be empty")
        if current_version not in keys:
            raise ValueError(f"no data key for the current version {current_version}")
        for version, key in keys.items():
            _check_version(version)
            _check_key(f"data key v{version}", key)
        _check_key("index key", index_key)
        self.slug = slug
        self.current_version = current_version
        self._slug = slug.encode()
        self._aead = {version: AESGCM(key) for version, key in keys.items()}
        self._index_key = index_key
        self._derived: dict[bytes, bytes] = {}
        self._ad_static: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        versions = sorted(self._aead)
        return f"WorkspaceCipher(slug={self.slug!r}, versions={versions}, current={self.current_version})"

    @property
    def versions(self) -> frozenset[int]:
        return frozenset(self._aead)

    # -- raw bytes ---------------------------------------------------------------------------------

    def encrypt(self, loc: FieldLocation, plaintext: bytes) -> bytes:
        header = _HEADER.pack(FORMAT_VERSION, self.current_version)
        nonce = os.urandom(NONCE_SIZE)
        ad = self._ad(loc, header)
        return header + nonce + self._aead[self.current_version].encrypt(nonce, plaintext, ad)

    def decrypt(self, loc: FieldLocation, blob: bytes) -> bytes:
        version = key_version_of(blob)
        aead = self._aead.get(version)
        if aead is None:
            raise DecryptionError(f"no data key v{version} loaded for workspace {self.slug!r}")
        header = blob[:_HEADER_SIZE]
        nonce = blob[_HEADER_SIZE : _HEADER_SIZE + NONCE_SIZE]
        try:
            return aead.decrypt(nonce, blob[_HEADER_SIZE + NONCE_SIZE :], self._ad(loc, header))
        except InvalidTag:
            raise DecryptionError(
                f"ciphertext does not authenticate for {self.slug}/{loc.table}.{loc.column}"
            ) from None

    def _ad(self, loc: FieldLocation, header: bytes) -> bytes:
        """`_field_ad`, with the slug/table/column part built once per column (it is most of the cost of a read)."""
        static = self._ad_static.get((loc.table, loc.column))
        if static is None:
            parts = (self._slug, loc.table.encode(), loc.column.encode())
            static = self._ad_static[(loc.table, loc.column)] = b"".join(_LENGTH.pack(len(p)) + p for p in parts)
        row = loc.row_id.encode()
        return b"".join((_FIELD_AD_PREFIX, header, static, _LENGTH.pack(len(row)), row))

    def column_decryptor(self, table: str, column: str, kind: str = "str") -> Callable[[str, bytes | None], Any]:
        """`decrypt_str` / `decrypt_int` / `decrypt_date` (by `kind`) for one column, as a function of (row id,
        blob): the column's part of the associated data is built once, so a read costs the row's part and the
        AES-GCM call. The same checks and errors as `decrypt`."""
        if not table or not column:
            raise ValueError("a column decryptor needs a non-empty table and column")
        parts = (self._slug, table.encode(), column.encode())
        static = b"".join(_LENGTH.pack(len(p)) + p for p in parts)
        aeads, slug, where = self._aead, self.slug, f"{table}.{column}"
        convert = None if kind == "str" else _PLAINTEXT_CONVERTERS[kind]
        unpack = _HEADER.unpack_from
        # By a blob's header (format and key version, already checked): its key and the associated data up to the
        # row's part. A workspace has a few key versions, so this holds a few entries.
        by_header: dict[bytes, tuple[AESGCM, bytes]] = {}

        def known(blob: bytes) -> tuple[AESGCM, bytes]:
            fmt, version = unpack(blob)
            if fmt != FORMAT_VERSION:
                raise DecryptionError(f"unsupported ciphertext format {fmt}")
            aead = aeads.get(version)
            if aead is None:
                raise DecryptionError(f"no data key v{version} loaded for workspace {slug!r}")
            header = blob[:_HEADER_SIZE]
            entry = by_header[header] = (aead, _FIELD_AD_PREFIX + header + static)
            return entry

        def decrypt(row_id: str, blob: bytes | None) -> Any:
            # `key_version_of`, `decrypt` and `_utf8` inlined: this runs once per encrypted value read.
            if blob is None:
                return None
            if not row_id:
                raise ValueError("FieldLocation needs a non-empty table, column and row_id")
            if len(blob) < _MIN_BLOB_SIZE:
                raise DecryptionError("ciphertext too short")
            aead, head = by_header.get(blob[:_HEADER_SIZE]) or known(blob)
            row = row_id.encode()
            ad = head + _LENGTH.pack(len(row)) + row
            try:
                plain = aead.decrypt(blob[_HEADER_SIZE:_NONCE_END], blob[_NONCE_END:], ad)
            except InvalidTag:
                raise DecryptionError(f"ciphertext does not authenticate for {slug}/{where}") from None
            if convert is not None:
                return convert(plain)
            try:
                return plain.decode("utf-8")
            except UnicodeDecodeError:
                raise DecryptionError("plaintext is not UTF-8") from None

        return decrypt

    def reencrypt(self, loc: FieldLocation, blob: bytes) -> bytes:
        """Decrypt with the version the blob names and encrypt again with the current version."""
        return self.encrypt(loc, self.decrypt(loc, blob))

    # -- typed helpers (None in -> None out) ---------------------------------------------------------

    @overload
    def encrypt_str(self, loc: FieldLocation, value: str) -> bytes: ...
    @overload
    def encrypt_str(self, loc: FieldLocation, value: None) -> None: ...
    @overload
    def encrypt_str(self, loc: FieldLocation, value: str | None) -> bytes | None: ...
    def encrypt_str(self, loc: FieldLocation, value: str | None) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        return self.encrypt(loc, value.encode("utf-8"))

    @overload
    def decrypt_str(self, loc: FieldLocation, blob: bytes) -> str: ...
    @overload
    def decrypt_str(self, loc: FieldLocation, blob: None) -> None: ...
    @overload
    def decrypt_str(self, loc: FieldLocation, blob: bytes | None) -> str | None: ...
    def decrypt_str(self, loc: FieldLocation, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        try:
            return self.decrypt(loc, blob).decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("plaintext is not UTF-8") from None

    @overload
    def encrypt_int(self, loc: FieldLocation, value: int) -> bytes: ...
    @overload
    def encrypt_int(self, loc: FieldLocation, value: None) -> None: ...
    @overload
    def encrypt_int(self, loc: FieldLocation, value: int | None) -> bytes | None: ...
    def encrypt_int(self, loc: FieldLocation, value: int | None) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected int, got {type(value).__name__}")
        return self.encrypt(loc, str(value).encode("ascii"))

    @overload
    def decrypt_int(self, loc: FieldLocation, blob: bytes) -> int: ...
    @overload
    def decrypt_int(self, loc: FieldLocation, blob: None) -> None: ...
    @overload
    def decrypt_int(self, loc: FieldLocation, blob: bytes | None) -> int | None: ...
    def decrypt_int(self, loc: FieldLocation, blob: bytes | None) -> int | None:
        text = self.decrypt_str(loc, blob)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise DecryptionError("plaintext is not an integer") from None

    @overload
    def encrypt_date(self, loc: FieldLocation, value: date) -> bytes: ...
    @overload
    def encrypt_date(self, loc: FieldLocation, value: None) -> None: ...
    @overload
    def encrypt_date(self, loc: FieldLocation, value: date | None) -> bytes | None: ...
    def encrypt_date(self, loc: FieldLocation, value: date | None) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"expected date, got {type(value).__name__}")
        return self.encrypt(loc, value.isoformat().encode("ascii"))

    @overload
    def decrypt_date(self, loc: FieldLocation, blob: bytes) -> date: ...
    @overload
    def decrypt_date(self, loc: FieldLocation, blob: None) -> None: ...
    @overload
    def decrypt_date(self, loc: FieldLocation, blob: bytes | None) -> date | None: ...
    def decrypt_date(self, loc: FieldLocation, blob: bytes | None) -> date | None:
        text = self.decrypt_str(loc, blob)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise DecryptionError("plaintext is not an ISO date") from None

    # -- keyed hashes (index key; stable across data-key rotation) ------------------------------------

    def _derived_key(self, info: bytes) -> bytes:
        key = self._derived.get(info)
        if key is None:
            key = self._derived[info] = _hkdf(self._index_key, info)
        return key

    def blind_index(self, table: str, column: str, normalised_value: str) -> bytes:
        """32-byte HMAC-SHA256 of an already-normalised value under a per-field key, for exact lookups."""
        _check_name("table", table)
        _check_name("column", column)
        key = self._derived_key(_BLIND_INDEX_INFO + table.encode() + b"|" + column.encode())
        return hmac.digest(key, normalised_value.encode("utf-8"), hashlib.sha256)

    def suppression_hash(self, kind: str, normalised_value: str) -> bytes:
        """32-byte keyed hash of an erased contact's normalised email/phone/HKID for the suppression list."""
        _check_name("kind", kind)
        key = self._derived_key(_SUPPRESSION_INFO + kind.encode())
        return hmac.digest(key, normalised_value.encode("utf-8"), hashlib.sha256)
