"""Statistics and track exports over HTTP: scoped per user, formula injection neutralised."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from geoalchemy2.shape import from_shape
from openpyxl import load_workbook
from shapely.geometry import Point
from sqlalchemy import text

from alerts.models import Incident
from dashboard.app import create_app
from dashboard.routes.exports import neutralise, to_csv
from keywatch.db import make_sessionmaker, transaction
from tests.city import OUTSIDE, PASSWORD
from tests.helpers import fix, now_local, publish_json, publisher, running_worker, wait_for


def _incident(n: int, plate: str, company: str, rule: str, at: datetime) -> Incident:
    return Incident(rule=rule, episode_key=str(n), severity="serious", status="resolved",
                    vehicle_id=1 if plate.endswith("1") else 2, plate=plate,
                    vehicle_class="muck_truck", company=company, district="370202",
                    officer="P37020201", started_at=at, ended_at=at, updated_at=at,
                    geom=from_shape(Point(120.36, 36.06), srid=4326), details={})


def _login(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    client.cookies.clear()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_stats_are_scoped_and_export_to_xlsx(city, engine, settings):
    now = datetime.now(UTC)
    with transaction(make_sessionmaker(engine)) as session:
        session.add_all([_incident(1, "鲁B00001", "QD-MUCK-01", "speeding", now),
                         _incident(2, "鲁B00001", "QD-MUCK-01", "forbidden_zone", now),
                         _incident(3, "鲁B00002", "QD-OTHER-01", "speeding", now)])
    with TestClient(create_app(settings)) as client:
        officer, company = _login(client, "officer1"), _login(client, "muck")
        daily = client.get("/api/v1/stats/incidents/daily?by=rule", headers=officer).json()
        assert sum(daily["series"]["speeding"]) == 2 and len(daily["days"]) == 30
        top = client.get("/api/v1/stats/companies/top", headers=officer).json()
        assert [(c["company"], c["incidents"]) for c in top] == [("QD-MUCK-01", 2),
                                                                 ("QD-OTHER-01", 1)]
        mine = client.get("/api/v1/stats/companies/top", headers=company).json()
        assert [c["company"] for c in mine] == ["QD-MUCK-01"]
        heat = client.get("/api/v1/stats/heatmap", headers=officer).json()
        assert heat["max"] == 3
        insp = client.get("/api/v1/stats/inspections/monthly?months=2", headers=officer).json()
        assert insp[-1]["trucks"] == 2 and insp[-1]["inspected"] == 0
        xlsx = client.get("/api/v1/stats/export.xlsx", headers=officer)
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.content))
        assert len(book.sheetnames) == 4
        bad = client.get("/api/v1/stats/incidents/daily?start=2026-02-01&end=2026-01-01",
                         headers=officer)
        assert bad.status_code == 422


def _fixes(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM fixes")).scalar_one()


def test_track_export_is_scoped(city, settings):
    start = now_local(settings, minutes_ago=10)
    with running_worker(settings), publisher(settings) as pub:
        publish_json(pub, "t-0002", "pos", [fix(start + timedelta(seconds=10 * i), *OUTSIDE,
                                                speed=20.0, seq=i) for i in range(3)])
        wait_for(lambda: _fixes(city) == 3, what="three fixes")
    span = {"start": (start - timedelta(minutes=1)).isoformat(),
            "end": (start + timedelta(minutes=5)).isoformat()}
    with TestClient(create_app(settings)) as client:
        officer, company = _login(client, "officer1"), _login(client, "muck")
        url = "/api/v1/exports/tracks/鲁B00002"
        csv = client.get(url, params={**span, "format": "csv"}, headers=officer)
        assert csv.status_code == 200 and csv.text.count("\n") == 4
        geo = client.get(url, params={**span, "format": "geojson"}, headers=officer).json()
        assert geo["features"][0]["geometry"]["type"] == "LineString"
        # another company's truck is "not found" for a company account
        assert client.get(url, params={**span, "format": "gpx"}, headers=company).status_code == 404
        assert client.get(url, params={**span, "format": "xls"}, headers=officer).status_code == 422


def test_csv_cells_cannot_become_formulas():
    assert neutralise("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)" and neutralise("-1+1") == "'-1+1"
    assert neutralise(-12.5) == -12.5 and neutralise("鲁B00001") == "鲁B00001"
    fixes = [{"ts": datetime(2026, 1, 1, tzinfo=UTC), "lat": 36.0, "lon": 120.0, "speed": 1.0,
              "heading": 0.0, "ign": True, "alarms": [], "flags": ["=cmd|' /C calc'!A0"],
              "district": "370202"}]
    assert "'=cmd" in to_csv("鲁B00001", fixes)
