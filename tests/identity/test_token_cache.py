"""The verified-token cache of `credentials.read_token`: a remembered token still expires on time, is only
accepted under the secret it was verified with, never stands in for a tampered copy, and the cache is bounded.
(That a remembered token of an ended session is refused is tests/identity/test_sessions.py's logout test.)"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from resolvers.identity import credentials

SECRET = "unit-secret-" + secrets.token_hex(32)


def _token(seconds: int, secret: str = SECRET) -> tuple[str, credentials.TokenClaims]:
    claims = credentials.TokenClaims(
        "acme", uuid.uuid4(), "user", datetime.now(UTC) + timedelta(seconds=seconds), session_id=uuid.uuid4()
    )
    return credentials.issue_token(secret, claims), claims


def test_a_remembered_token_reads_the_same_and_expires_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    token, claims = _token(60)
    first = credentials.read_token(SECRET, token)
    assert first is not None and (first.subject_id, first.session_id) == (claims.subject_id, claims.session_id)
    assert (SECRET, token) in credentials._verified
    assert credentials.read_token(SECRET, token) == first  # from the cache
    later = time.time() + 61
    monkeypatch.setattr(credentials.time, "time", lambda: later)
    assert credentials.read_token(SECRET, token) is None
    assert (SECRET, token) not in credentials._verified


def test_a_remembered_token_is_not_valid_under_another_secret() -> None:
    token, _ = _token(60)
    assert credentials.read_token(SECRET, token) is not None
    assert credentials.read_token("another-" + SECRET, token) is None


def test_a_tampered_or_foreign_token_is_refused_and_not_remembered() -> None:
    token, _ = _token(60)
    assert credentials.read_token(SECRET, token) is not None
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    foreign, _ = _token(60, secret="not-ours-" + secrets.token_hex(32))
    for bad in (tampered, foreign, "not.a.jwt"):
        assert credentials.read_token(SECRET, bad) is None
        assert (SECRET, bad) not in credentials._verified


def test_the_cache_is_bounded_least_recently_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "_verified", type(credentials._verified)())
    monkeypatch.setattr(credentials, "VERIFIED_TOKENS", 3)
    tokens = [_token(60)[0] for _ in range(4)]
    for token in tokens[:3]:
        assert credentials.read_token(SECRET, token) is not None
    assert credentials.read_token(SECRET, tokens[0]) is not None  # touched: now the most recent
    assert credentials.read_token(SECRET, tokens[3]) is not None
    assert [t for _, t in credentials._verified] == [tokens[2], tokens[0], tokens[3]]
