"""Accounts (issue 8): short-lived access tokens, rotating refresh tokens, revocation on
logout and password change, lockout after repeated failures, admin-only accounts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from dashboard.app import create_app
from tests.city import PASSWORD
from tests.security.conftest import sign_in


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client, token: str):
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    client.cookies.clear()
    return response


def test_sign_in_returns_short_access_and_refresh_token(client, city):
    tokens = sign_in(client, "officer1")
    assert tokens["expires_in"] == 900 and tokens["token_type"] == "bearer"
    assert tokens["refresh_expires_in"] == 14 * 86400 and len(tokens["refresh_token"]) > 30
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).json()[
        "username"] == "officer1"


def test_refresh_rotates_and_a_reused_token_revokes_the_family(client, city, engine):
    first = sign_in(client, "officer1")
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200
    with engine.connect() as conn:  # stored hashed, never as issued
        stored = conn.execute(text("SELECT token_hash FROM refresh_tokens")).scalars().all()
    assert first["refresh_token"] not in stored and len(stored) == 2
    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 401 and "already used" in reused.json()["error"]
    assert refresh(client, second["refresh_token"]).status_code == 401  # family revoked
    assert refresh(client, "not-a-token").status_code == 401
    assert client.post("/api/v1/auth/refresh").status_code == 401


def test_refresh_from_cookie(client, city):
    client.post("/api/v1/auth/token", data={"username": "muck", "password": PASSWORD})
    response = client.post("/api/v1/auth/refresh")
    client.cookies.clear()
    assert response.status_code == 200 and response.json()["role"] == "company"


def test_logout_revokes_refresh_and_access_tokens(client, city):
    tokens = sign_in(client, "officer1")
    other_session = sign_in(client, "officer1")
    response = client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]),
                           json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    for access in (tokens["access_token"], other_session["access_token"]):
        assert client.get("/api/v1/auth/me", headers=bearer(access)).status_code == 401
    assert refresh(client, tokens["refresh_token"]).status_code == 401
    # logging out without a (valid) token still answers 204 and clears the cookies
    assert client.post("/api/v1/auth/logout").status_code == 204


def test_password_change_revokes_everything(client, city):
    tokens = sign_in(client, "officer1")
    headers = bearer(tokens["access_token"])
    wrong = client.post("/api/v1/auth/password", headers=headers,
                        json={"current_password": "nope-nope", "new_password": "x" * 12})
    assert wrong.status_code == 401
    short = client.post("/api/v1/auth/password", headers=headers,
                        json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422
    changed = client.post("/api/v1/auth/password", headers=headers,
                          json={"current_password": PASSWORD, "new_password": "new-horse-42"})
    assert changed.status_code == 204, changed.text
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert refresh(client, tokens["refresh_token"]).status_code == 401
    old = client.post("/api/v1/auth/token", data={"username": "officer1", "password": PASSWORD})
    assert old.status_code == 401
    sign_in(client, "officer1", "new-horse-42")


def _attempt(client, username: str, password: str):
    response = client.post("/api/v1/auth/token",
                           data={"username": username, "password": password})
    client.cookies.clear()
    return response


def test_lockout_after_five_failures_survives_a_restart(client, city, settings, engine):
    statuses = [_attempt(client, "officer1", "wrong-pass").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = _attempt(client, "officer1", PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert locked.json()["status"] == 429
    assert _attempt(client, "officer2", PASSWORD).status_code == 200  # others unaffected
    with TestClient(create_app(settings)) as restarted:  # another web process
        assert _attempt(restarted, "officer1", PASSWORD).status_code == 429
    with engine.begin() as conn:  # the lockout ends
        conn.execute(text("UPDATE login_throttle SET locked_until = now() - interval '1 s'"))
    assert _attempt(client, "officer1", PASSWORD).status_code == 200
    # a success clears the count: four more failures do not lock
    assert [_attempt(client, "officer1", "x" * 9).status_code for _ in range(4)] == [401] * 4


def test_failures_outside_the_window_do_not_count(client, city, engine):
    for _ in range(4):
        _attempt(client, "officer1", "wrong-pass")
    with engine.begin() as conn:
        conn.execute(text("UPDATE login_throttle SET window_start = now() - interval '16 min'"))
    assert _attempt(client, "officer1", "wrong-pass").status_code == 401
    assert _attempt(client, "officer1", PASSWORD).status_code == 200


def test_only_an_admin_creates_accounts(client, auth):
    body = {"username": "newcop", "password": "a-long-pass", "role": "officer",
            "officer": "P37020301"}
    assert client.post("/api/v1/users", json=body).status_code == 401
    assert client.post("/api/v1/users", json=body, headers=auth("officer1")).status_code == 403
    assert client.post("/api/v1/users", json=body, headers=auth("muck")).status_code == 403
    created = client.post("/api/v1/users", json=body, headers=auth("admin"))
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "officer"
    assert client.post("/api/v1/users", json=body, headers=auth("admin")).status_code == 409
    bad = client.post("/api/v1/users", headers=auth("admin"),
                      json={**body, "username": "x2", "role": "god"})
    assert bad.status_code == 422
    sign_in(client, "newcop", "a-long-pass")
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if "register" in p or "signup" in p]
