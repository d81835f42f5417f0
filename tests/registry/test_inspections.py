"""Monthly muck-truck hazard inspections against real PostGIS: company-scoped uploads,
re-uploads that keep the earlier version, missing trucks by company and district,
overdue hazards, and inspection_overdue incidents under a controlled clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from alerts.overdue import raise_overdue
from alerts.routing import Router
from keywatch.db import make_sessionmaker, transaction
from registry.inspections import deadline
from registry.lookup import load_districts

TZ = ZoneInfo("Asia/Shanghai")
HEADER = "号牌号码,排查日期,排查人,制动,灯光,篷布密闭,隐患,整改期限,整改状态"


def sheet(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("gbk")


def upload(client, auth, user: str, data: bytes, month: str = "2026-11", **form):
    return client.post("/api/v1/inspections", headers=auth(user),
                       files={"file": ("insp.csv", data)}, data={"month": month, **form})


def test_company_uploads_only_its_own_trucks(client, auth, city):
    mine = "鲁B00001,2026-11-05,赵安全员,合格,合格,不合格,篷布破损,2026-11-10,未整改"
    theirs = "鲁B00002,2026-11-05,赵安全员,合格,合格,合格,,,"
    refused = upload(client, auth, "muck", sheet(mine, theirs))
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert (error["row"], error["column"], error["value"]) == (3, "号牌号码", "鲁B00002")
    assert "of your company" in error["reason"]
    assert client.get("/api/v1/inspections?month=2026-11",
                      headers=auth("admin")).json() == []
    ok = upload(client, auth, "muck", sheet(mine))
    assert ok.status_code == 200 and ok.json()["stored"] == 1
    # the other company cannot see it; an inspector can
    assert client.get("/api/v1/inspections?month=2026-11", headers=auth("other")).json() == []
    [row] = client.get("/api/v1/inspections?month=2026-11", headers=auth("inspector")).json()
    assert row["items"] == {"brakes": True, "lights": True, "cover_sealing": False}
    assert (row["uploaded_by"], row["rectification_status"]) == ("muck", "pending")


def test_rows_are_validated(client, auth, city):
    response = upload(client, auth, "inspector", sheet(
        "鲁B00001,2026-10-31,赵,合格,,,,,",  # outside the month
        "鲁B00003,2026-11-02,赵,也许,,,,,",  # not a check result
        "鲁B00099,2026-11-02,赵,合格,,,,,",  # no such truck
    ))
    assert response.status_code == 422
    cells = [(e["row"], e["column"]) for e in response.json()["errors"]]
    assert cells == [(2, "排查日期"), (3, "制动"), (4, "号牌号码")]
    assert upload(client, auth, "inspector", sheet(), month="2026-13").status_code == 422


def test_reupload_supersedes_and_keeps_history(client, auth, city):
    upload(client, auth, "muck", sheet("鲁B00001,2026-11-05,赵,合格,,,,,"))
    again = upload(client, auth, "muck", sheet("鲁B00001,2026-11-20,钱,合格,,,,,"))
    assert again.json()["replaced"] == 1
    [current] = client.get("/api/v1/inspections?month=2026-11", headers=auth("muck")).json()
    assert (current["inspected_on"], current["inspector"]) == ("2026-11-20", "钱")
    history = client.get("/api/v1/inspections?month=2026-11&include_superseded=true",
                         headers=auth("muck")).json()
    assert len(history) == 2
    assert sum(1 for h in history if h["superseded_at"] is not None) == 1


def test_missing_by_company_and_district(client, auth, city):
    upload(client, auth, "muck", sheet("鲁B00001,2026-11-05,赵,合格,,,,,"))
    missing = client.get("/api/v1/inspections/missing?month=2026-11",
                         headers=auth("inspector")).json()
    assert missing["total"] == 2
    assert [(g["company"], g["district"], g["plates"]) for g in missing["groups"]] == [
        ("QD-MUCK-01", "370202", ["鲁B00003"]), ("QD-OTHER-01", "370202", ["鲁B00002"])]
    own = client.get("/api/v1/inspections/missing?month=2026-11", headers=auth("muck")).json()
    assert own["total"] == 1 and own["groups"][0]["plates"] == ["鲁B00003"]


def test_overdue_hazards(client, auth, city):
    upload(client, auth, "inspector", sheet(
        "鲁B00001,2026-11-05,赵,合格,,,篷布破损,2026-11-10,未整改",
        "鲁B00002,2026-11-05,赵,合格,,,灯光损坏,2026-11-10,已整改",
        "鲁B00003,2026-11-05,赵,合格,,,尾板松动,2026-11-30,",
    ))
    overdue = client.get("/api/v1/inspections/overdue-hazards?today=2026-11-15",
                         headers=auth("officer1")).json()
    assert [o["plate"] for o in overdue] == ["鲁B00001"]
    assert client.get("/api/v1/inspections/overdue-hazards?today=2026-11-15",
                      headers=auth("other")).json() == []


def _incidents(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT plate, rule, episode_key, severity, officer, district FROM incidents "
            "ORDER BY plate")).all()


def test_raise_overdue_once_per_truck_after_the_deadline(client, auth, city):
    upload(client, auth, "muck", sheet("鲁B00001,2026-11-05,赵,合格,,,,,"))
    factory = make_sessionmaker(city)
    assert deadline("2026-11", tz=TZ) == datetime(2026, 12, 1, tzinfo=TZ)
    assert deadline("2026-02", tz=TZ, deadline_day=31) == datetime(2026, 3, 1, tzinfo=TZ)
    with transaction(factory) as session:
        router = Router(load_districts(session))
        before = raise_overdue(session, month="2026-11", router=router, tz=TZ,
                               now=datetime(2026, 11, 30, 23, 59, tzinfo=TZ))
        assert before == []
        opened = raise_overdue(session, month="2026-11", router=router, tz=TZ,
                               now=datetime(2026, 12, 1, 0, 1, tzinfo=TZ))
        assert len(opened) == 2
    with transaction(factory) as session:  # a second run (e.g. a restart) opens nothing
        again = raise_overdue(session, month="2026-11", router=router, tz=TZ,
                              now=datetime(2026, 12, 2, tzinfo=TZ))
        assert again == []
    assert _incidents(city) == [
        ("鲁B00002", "inspection_overdue", "2026-11", "warning", "P37020201", "370202"),
        ("鲁B00003", "inspection_overdue", "2026-11", "warning", "P37020201", "370202"),
    ]
    with city.connect() as conn:
        opened_rows = conn.execute(text(
            "SELECT count(*) FROM incident_transitions WHERE to_status = 'open'")).scalar_one()
    assert opened_rows == 2  # recorded and routed like any incident
    # the company sees its own truck's incident
    mine = client.get("/api/v1/incidents?rule=inspection_overdue", headers=auth("muck")).json()
    assert [i["plate"] for i in mine] == ["鲁B00003"]
