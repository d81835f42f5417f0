"""The audit log (issue 8): every write under /api/v1 and every sign-in, append-only,
readable by admins with filters and paging."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dashboard.audit import SELF_AUDITED, WRITES
from dashboard.deps import current_user
from dashboard.routes import all_routers
from tests.city import PASSWORD


def _entries(client, auth, **params) -> list[dict]:
    response = client.get("/api/v1/audit", params=params, headers=auth("admin"))
    assert response.status_code == 200, response.text
    return response.json()


def test_sign_ins_are_audited(client, auth):
    client.post("/api/v1/auth/token", data={"username": "muck", "password": "wrong-pass"})
    auth("muck")
    entries = _entries(client, auth, action="login", actor="muck")
    assert [e["outcome"] for e in entries] == ["ok", "failed"]
    assert entries[0]["address"] == "testclient" and entries[0]["role"] == "company"
    assert entries[1]["status"] == 401 and entries[0]["at"] >= entries[1]["at"]


def test_writes_are_audited_with_their_outcome(client, auth):
    body = {"badge": "P37020299", "name": "赵警官"}
    assert client.post("/api/v1/officers", json=body, headers=auth("admin")).status_code == 201
    assert client.post("/api/v1/officers", json=body, headers=auth("admin")).status_code == 409
    assert client.post("/api/v1/officers", json=body, headers=auth("muck")).status_code == 403
    assert client.post("/api/v1/officers", json=body).status_code == 401
    assert client.post("/api/v1/officers", json={}, headers=auth("admin")).status_code == 422
    assert client.delete("/api/v1/vehicles/鲁B99999", headers=auth("admin")).status_code == 404
    writes = _entries(client, auth, action="write")
    summary = [(e["actor"], e["method"], e["route"], e["status"], e["outcome"])
               for e in reversed(writes)]
    assert summary == [
        ("admin", "POST", "/api/v1/officers", None, "ok"),
        ("admin", "POST", "/api/v1/officers", 409, "failed"),
        ("muck", "POST", "/api/v1/officers", 403, "denied"),
        (None, "POST", "/api/v1/officers", 401, "denied"),
        ("admin", "POST", "/api/v1/officers", 422, "failed"),
        ("admin", "DELETE", "/api/v1/vehicles/{plate}", 404, "failed"),
    ]
    assert writes[0]["details"]["params"] == {"plate": "鲁B99999"}


def test_audit_filters_and_paging(client, auth):
    for name in ("officer1", "officer2", "muck"):
        auth(name)
    page = client.get("/api/v1/audit", params={"action": "login", "limit": 2, "offset": 1},
                      headers=auth("admin"))
    assert page.headers["X-Total-Count"] == "4" and len(page.json()) == 2
    assert [e["actor"] for e in page.json()] == ["muck", "officer2"]
    assert [e["actor"] for e in _entries(client, auth, actor="officer1")] == ["officer1"]
    assert _entries(client, auth, outcome="failed") == []
    assert client.get("/api/v1/audit", params={"outcome": "bogus"},
                      headers=auth("admin")).status_code == 422


@pytest.mark.parametrize("user", ["officer1", "muck", "inspector", "super"])
def test_only_admins_read_the_audit_log(client, auth, user):
    assert client.get("/api/v1/audit", headers=auth(user)).status_code == 403


def test_unauthenticated_audit_read_is_401(client, city):
    assert client.get("/api/v1/audit").status_code == 401


def test_audit_log_is_append_only(client, auth, engine):
    auth("admin")
    for statement in ("UPDATE audit_log SET actor = 'nobody'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 1


def _depends_on(dependant, target) -> bool:
    return any(d.call is target or _depends_on(d, target) for d in dependant.dependencies)


def test_every_write_route_is_audited():
    """Writes are audited through current_user, so each must depend on it."""
    routes = [r for router in all_routers() for r in router.routes if isinstance(r, APIRoute)
              and r.path.startswith("/api/v1/") and set(r.methods) & WRITES
              and not r.path.startswith(SELF_AUDITED)]
    assert len(routes) > 20
    escaped = [r.path for r in routes if not _depends_on(r.dependant, current_user)]
    assert escaped == []


def test_logout_and_refresh_are_audited(client, auth):
    tokens = client.post("/api/v1/auth/token",
                         data={"username": "officer1", "password": PASSWORD}).json()
    client.cookies.clear()
    client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    client.post("/api/v1/auth/logout", headers=bearer)
    actions = [(e["action"], e["actor"]) for e in _entries(client, auth)
               if e["action"] in ("refresh", "logout")]
    assert actions == [("logout", "officer1"), ("refresh", "officer1")]
