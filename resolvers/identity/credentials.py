"""Passwords (argon2id), access tokens (JWT, HS256), and random secrets stored as SHA-256: partner API keys,
refresh tokens, password-reset links, MFA recovery codes.

A verified access token is remembered per token string (a bounded LRU, `VERIFIED_TOKENS`) until its `exp`: the
signature and JSON of the same token are not checked again on each request. Only what the token itself says
is remembered; whether its session is still live is asked of the database on every request
(`accounts.authenticate`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with RFC 9106's second recommendation for memory and passes (64 MiB, t=3) but one lane: the reference
# implementation runs one native thread per lane, and `parallelism=4` made two concurrent hashes eight CPU-bound
# threads on two cores, taking them from the event loop's thread. The attacker's cost (memory x passes) is the
# same; a hash of the old form is replaced at the next successful login (`needs_rehash`).
_hasher = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1)
# A real hash to verify against when the email is unknown, so timing does not reveal which emails exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
API_KEY_PREFIX = "crm"
VERIFIED_TOKENS = 4096  # access tokens remembered as verified (LRU); a few MB at most


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a verified hash was made with other parameters than today's (it is replaced at login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    workspace: str
    subject_id: uuid.UUID
    kind: str  # user | support
    expires_at: datetime
    grant_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None  # user tokens: the server-side session (`auth_sessions`) they belong to


def issue_token(secret: str, claims: TokenClaims) -> str:
    payload: dict[str, object] = {
        "ws": claims.workspace,
        "sub": str(claims.subject_id),
        "kind": claims.kind,
        "exp": int(claims.expires_at.timestamp()),
        "iat": int(datetime.now(UTC).timestamp()),
    }
    if claims.grant_id:
        payload["grant"] = str(claims.grant_id)
    if claims.session_id:
        payload["sid"] = str(claims.session_id)
    return jwt.encode(payload, secret, algorithm="HS256")


# (secret, token) -> (exp as a UNIX time, claims): only tokens whose signature verified under that secret.
_verified: OrderedDict[tuple[str, str], tuple[int, TokenClaims]] = OrderedDict()


def read_token(secret: str, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token signed with `secret`, else None.

    A token verified before is answered from `_verified` while it has not expired (PyJWT's own rule: expired
    when `exp <= now`); `nbf` and `iat` only become truer with time, so they need no second look.
    """
    key = (secret, token)
    known = _verified.get(key)
    if known is not None:
        if known[0] > time.time():
            _verified.move_to_end(key)
            return known[1]
        _verified.pop(key, None)
        return None
    try:
        data = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "ws"]})
        claims = TokenClaims(
            workspace=str(data["ws"]),
            subject_id=uuid.UUID(str(data["sub"])),
            kind=str(data.get("kind", "user")),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
            grant_id=uuid.UUID(str(data["grant"])) if data.get("grant") else None,
            session_id=uuid.UUID(str(data["sid"])) if data.get("sid") else None,
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None
    _verified[key] = (int(data["exp"]), claims)
    if len(_verified) > VERIFIED_TOKENS:
        _verified.popitem(last=False)
    return claims


def token_expiry(ttl_seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=ttl_seconds)


def new_api_key(workspace: str) -> str:
    """`crm_<workspace>_<43 random characters>`: the workspace names the database to look the key up in."""
    return f"{API_KEY_PREFIX}_{workspace}_{secrets.token_urlsafe(32)}"


def api_key_workspace(key: str) -> str | None:
    # The random part is 43 characters and may itself contain '_': count from the end.
    prefix, _, rest = key.partition("_")
    if prefix != API_KEY_PREFIX or len(rest) < 45 or rest[-44] != "_":
        return None
    return rest[:-44] or None


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_workspace_secret(workspace: str) -> str:
    """`<workspace>.<43 random characters>`: refresh tokens and reset links name the database to look in."""
    return f"{workspace}.{secrets.token_urlsafe(32)}"


def secret_workspace(secret: str) -> str | None:
    workspace, dot, rest = secret.rpartition(".")
    return workspace if dot and workspace and len(rest) == 43 else None


def sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()
