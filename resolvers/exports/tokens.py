"""Signed download links for finished exports: `GET /exports/{token}`.

    token = base64url("<slug>|<job uuid hex>|<expiry unix seconds>") "." base64url(HMAC-SHA256(k, payload))
    k     = HMAC-SHA256(CRM_SECRET_KEY, "crm export link v1")   (a key of its own, not the session-token key)

The token names the job and carries its expiry (the job's `expires_at`, 24 h after it finished), so the
same job always yields the same link. Anything malformed or mis-signed is `InvalidToken` (404); a good
token past its expiry is `ExpiredToken` (410).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

_LABEL = b"crm export link v1"
MAX_TOKEN_LENGTH = 300


class InvalidToken(Exception):
    pass


class ExpiredToken(Exception):
    pass


@dataclass(frozen=True)
class LinkClaims:
    slug: str
    job_id: uuid.UUID
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), _LABEL, hashlib.sha256).digest()


def sign(secret_key: str, slug: str, job_id: uuid.UUID, expires_at: datetime) -> str:
    payload = f"{slug}|{job_id.hex}|{int(expires_at.timestamp())}".encode()
    mac = hmac.new(_key(secret_key), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(secret_key: str, token: str, now: datetime | None = None) -> LinkClaims:
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise InvalidToken("malformed")
    body, _, signature = token.partition(".")
    try:
        payload, mac = _unb64(body), _unb64(signature)
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("malformed") from exc
    if _b64(payload) != body or _b64(mac) != signature:  # one spelling per token: no malleable base64 tails
        raise InvalidToken("malformed")
    if not hmac.compare_digest(mac, hmac.new(_key(secret_key), payload, hashlib.sha256).digest()):
        raise InvalidToken("bad signature")
    try:
        slug, job_hex, expiry = payload.decode().split("|")
        claims = LinkClaims(slug, uuid.UUID(hex=job_hex), datetime.fromtimestamp(int(expiry), UTC))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("malformed") from exc
    if claims.expires_at <= (now or datetime.now(UTC)):
        raise ExpiredToken("expired")
    return claims
