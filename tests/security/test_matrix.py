"""Role × route × object matrix, generated from the app's routes (issue 8).

Every GET route with a path parameter naming an object is asked, by the company
``other`` (QD-OTHER-01), for an object of QD-MUCK-01: 404, never 403/200/500 — unless
the route is closed to company accounts altogether (the owner gets 403 as well). Every
list route, asked by ``other``, must not mention any of QD-MUCK-01's objects. Without a
token every API route answers 401 JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from fastapi.routing import APIRoute

from alerts.models import Delivery, Incident, Notice
from dashboard.routes import all_routers
from keywatch.db import make_sessionmaker, transaction
from registry.models import Driver, Inspection, Vehicle

LICENCE = "370202199001011237"
MUCK_MARKERS = ("QD-MUCK-01", "鲁B00001", "鲁B00003", "t-0001", "t-0003", LICENCE,
                "青岛测试渣土运输有限公司")
# Objects no company owns: the city's geography, rules and police directory.
SHARED = {"/api/v1/districts/{code}", "/api/v1/geofences/{fence_id}",
          "/api/v1/officers/{badge}"}
QUERY = {"start": "2026-11-01T00:00:00+08:00", "end": "2026-11-06T00:00:00+08:00",
         "month": "2026-11"}
STREAMS = {"/api/v1/live"}  # Server-Sent Events: scoped per event (dashboard/live.py)
PUBLIC = {"/healthz", "/readyz", "/metrics", "/login", "/api/v1/auth/token",
          "/api/v1/auth/logout"}


def _routes() -> list[APIRoute]:
    return [r for router in all_routers() for r in router.routes if isinstance(r, APIRoute)]


def _gets(with_params: bool) -> list[str]:
    return sorted({r.path for r in _routes() if "GET" in r.methods
                   and bool(r.param_convertors) == with_params
                   and r.path.startswith(("/api/", "/ui/"))})


@pytest.fixture
def owned(city):
    """One object of each kind for QD-MUCK-01 (and its truck 鲁B00001)."""
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    with transaction(make_sessionmaker(city)) as session:
        vehicle = session.query(Vehicle).filter_by(plate="鲁B00001").one()
        session.add(Driver(licence_no=LICENCE, name="张司机", company_code="QD-MUCK-01"))
        incident = Incident(rule="speeding", severity="serious", status="open",
                            vehicle_id=vehicle.id, plate="鲁B00001", vehicle_class="muck_truck",
                            device_id="t-0001", company="QD-MUCK-01", district="370202",
                            officer="P37020201", started_at=now, updated_at=now,
                            geom="SRID=4326;POINT(120.38 36.06)",
                            details={"speed": 80, "limit": 60})
        session.add(incident)
        session.flush()
        notice = Notice(incident_id=incident.id, company="QD-MUCK-01", plate="鲁B00001",
                        rule="speeding", severity="serious", occurred_at=now,
                        district="370202", title="抄告", text="鲁B00001 超速")
        delivery = Delivery(incident_id=incident.id, purpose="notice",
                            recipient_kind="company", recipient="QD-MUCK-01",
                            channel="webhook", next_attempt_at=now)
        session.add_all([notice, delivery, Inspection(
            vehicle_id=vehicle.id, month="2026-11", inspected_on=date(2026, 11, 3),
            inspector="刘", items={"brakes": "ok"}, hazards="tarp torn")])
        session.flush()
        ids = {"incident_id": incident.id, "notice_id": notice.id, "delivery_id": delivery.id}
    return {"plate": "鲁B00001", "licence_no": LICENCE, "code": "QD-MUCK-01", **ids}


def _url(path: str, objects: dict) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(objects[m.group(1)]), path)


def test_the_matrix_covers_the_openapi_routes(client):
    mine = {r.path for r in _routes()}
    assert set(client.get("/openapi.json").json()["paths"]) - {"/healthz", "/readyz",
                                                              "/metrics"} <= mine


@pytest.mark.parametrize("path", [p for p in _gets(True) if p not in SHARED])
def test_another_companys_object_is_404(client, auth, owned, path):
    url = _url(path, owned)
    as_owner = client.get(url, params=QUERY, headers=auth("muck"))
    as_other = client.get(url, params=QUERY, headers=auth("other"))
    assert as_other.status_code < 500 and as_owner.status_code < 500
    if as_owner.status_code == 403:  # closed to company accounts altogether
        assert as_other.status_code == 403, as_other.text
        return
    assert as_owner.status_code == 200, (url, as_owner.text)
    assert as_other.status_code == 404, (url, as_other.status_code, as_other.text[:300])
    assert as_other.json()["status"] == 404
    for police in ("admin", "inspector"):  # those who see everything do see it
        assert client.get(url, params=QUERY, headers=auth(police)).status_code == 200


@pytest.mark.parametrize("path", sorted(SHARED))
def test_shared_objects_never_500(client, auth, city, path):
    response = client.get(_url(path, {"code": "370202", "fence_id": 1,
                                      "badge": "P37020201"}), headers=auth("other"))
    assert response.status_code in (200, 403, 404)


@pytest.mark.parametrize("path", [p for p in _gets(False) if p not in STREAMS])
def test_lists_show_a_company_only_its_own(client, auth, owned, path):
    response = client.get(path, params=QUERY, headers=auth("other"))
    assert response.status_code in (200, 403), (path, response.text[:300])
    body = response.content.decode("utf-8", "replace")
    if "spreadsheetml" in response.headers.get("content-type", ""):
        body = _xlsx_text(response.content)
    leaked = [marker for marker in MUCK_MARKERS if marker in body]
    assert leaked == [], (path, leaked)


@pytest.mark.parametrize("path", ["/api/v1/vehicles", "/api/v1/drivers", "/api/v1/incidents",
                                  "/api/v1/notices", "/api/v1/companies"])
def test_the_owner_does_see_its_objects(client, auth, owned, path):
    """The leak check above is meaningful: the same lists do name them for their owner."""
    body = client.get(path, params=QUERY, headers=auth("muck")).text
    assert any(marker in body for marker in MUCK_MARKERS), path


def _xlsx_text(content: bytes) -> str:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return " ".join(archive.read(name).decode("utf-8", "replace")
                        for name in archive.namelist() if name.endswith(".xml"))


def _all_api_calls() -> list[tuple[str, str]]:
    calls = {(method, r.path) for r in _routes() for method in r.methods
             if method != "HEAD" and r.path.startswith(("/api/", "/ui/"))}
    return sorted(c for c in calls if c[1] not in PUBLIC)


@pytest.mark.parametrize("method,path", _all_api_calls())
def test_unauthenticated_is_401_json(client, method, path):
    url = _url(path, {"plate": "鲁B00001", "code": "x", "licence_no": "x", "badge": "x",
                      "incident_id": 1, "notice_id": 1, "delivery_id": 1, "fence_id": 1})
    client.cookies.clear()
    response = client.request(method, url, params=QUERY)
    assert response.status_code == 401, (method, url, response.status_code, response.text[:200])
    assert response.json()["status"] == 401
