"""Tampered tokens are refused with a 401 JSON answer, never a 500 (issue 8)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import text

from tests.security.conftest import sign_in


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _me(client, token: str):
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


def _assert_refused(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["status"] == 401 and response.headers["WWW-Authenticate"] == "Bearer"


@pytest.fixture
def officer_token(client, city) -> str:
    return sign_in(client, "officer1")["access_token"]


def test_valid_token_accepted(client, officer_token):
    assert _me(client, officer_token).status_code == 200


def test_alg_none_refused(client, officer_token):
    claims = _claims(officer_token)
    claims["role"] = "admin"
    for alg in ("none", "None", "NONE"):
        forged = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
        _assert_refused(_me(client, forged))


def test_expired_refused(client, officer_token, settings):
    claims = _claims(officer_token)
    claims["exp"] = int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())
    _assert_refused(_me(client, jwt.encode(claims, settings.secret_key, algorithm="HS256")))


def test_wrong_key_refused(client, officer_token):
    claims = _claims(officer_token)
    _assert_refused(_me(client, jwt.encode(claims, "not-the-key-" * 4, algorithm="HS256")))


def test_other_algorithms_refused(client, officer_token, settings):
    claims = _claims(officer_token)
    for alg in ("HS384", "HS512"):  # same secret, other algorithm: still refused
        _assert_refused(_me(client, jwt.encode(claims, settings.secret_key, algorithm=alg)))


def test_role_edited_in_payload_refused(client, officer_token):
    header, _, signature = officer_token.split(".")
    claims = _claims(officer_token)
    claims["role"] = "admin"
    _assert_refused(_me(client, f"{header}.{_b64(claims)}.{signature}"))
    response = client.get("/api/v1/audit", headers={
        "Authorization": f"Bearer {header}.{_b64(claims)}.{signature}"})
    _assert_refused(response)


def test_role_claim_must_match_the_account(client, officer_token, settings):
    """Even signed with the right key, a token whose role is not the account's is dead
    (an admin changed the role: old tokens must not keep the old powers)."""
    claims = _claims(officer_token)
    claims["role"] = "admin"
    _assert_refused(_me(client, jwt.encode(claims, settings.secret_key, algorithm="HS256")))


@pytest.mark.parametrize("missing", ["sub", "role", "ver", "exp"])
def test_missing_claims_refused(client, officer_token, settings, missing):
    claims = _claims(officer_token)
    del claims[missing]
    _assert_refused(_me(client, jwt.encode(claims, settings.secret_key, algorithm="HS256")))


@pytest.mark.parametrize("field,value", [("sub", "admin"), ("sub", "99999"), ("ver", 7),
                                         ("sub", None)])
def test_odd_claim_values_refused(client, officer_token, settings, field, value):
    claims = _claims(officer_token)
    claims[field] = value
    _assert_refused(_me(client, jwt.encode(claims, settings.secret_key, algorithm="HS256")))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer", "x" * 5000,
                                     "eyJhbGciOiJIUzI1NiJ9.e30.", "....."])
def test_garbage_refused(client, city, garbage):
    _assert_refused(_me(client, garbage))


def test_token_in_cookie_checked_the_same_way(client, officer_token):
    header, _, signature = officer_token.split(".")
    claims = _claims(officer_token)
    claims["role"] = "admin"
    client.cookies.set("kw_token", f"{header}.{_b64(claims)}.{signature}")
    try:
        _assert_refused(client.get("/api/v1/auth/me"))
    finally:
        client.cookies.clear()


def test_deactivated_account_refused(client, officer_token, engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET active = false WHERE username = 'officer1'"))
    _assert_refused(_me(client, officer_token))
