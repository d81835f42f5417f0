"""Routing, noise control and company notices, through ``apply_events`` on PostGIS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.roster import on_duty
from keywatch.db import make_sessionmaker, transaction
from registry.models import Officer, OfficerDistrict, Vehicle
from tests.alerts.support import deliveries, open_incident, rows

TZ = ZoneInfo("Asia/Shanghai")
NIGHT = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "20:00", "end": "08:00"}]


def test_roster_shifts_cross_midnight():
    monday_late = datetime(2026, 11, 23, 23, 30, tzinfo=TZ)  # a Monday
    tuesday_early = datetime(2026, 11, 24, 7, 59, tzinfo=TZ)
    shift = [{"days": [1], "start": "20:00", "end": "08:00"}]
    assert on_duty(shift, monday_late) and on_duty(shift, tuesday_early)
    assert not on_duty(shift, datetime(2026, 11, 24, 8, 0, tzinfo=TZ))
    assert not on_duty(shift, datetime(2026, 11, 23, 7, 0, tzinfo=TZ))  # Sunday's night
    assert not on_duty([{"days": [1], "start": "bad"}], monday_late)  # malformed: ignored


def test_on_duty_officer_vehicle_officer_and_supervisor(city):
    engine = city
    with transaction(make_sessionmaker(engine)) as session:
        session.add(Officer(badge="P37020202", name="赵警官", role="officer", roster=NIGHT))
        session.add(Officer(badge="P37020299", name="钱警官", role="officer"))
        session.flush()
        session.add(OfficerDistrict(badge="P37020202", district="370202"))
        # the vehicle's responsible officer (责任到人) is someone else
        session.query(Vehicle).filter_by(device_id="t-0001").update(
            {"officer_badge": "P37020299"})
    night = datetime(2026, 11, 24, 23, 0, tzinfo=TZ)
    incident = open_incident(engine, ts=night, severity="critical")
    [row] = rows(engine, "SELECT * FROM incidents WHERE id = :id", id=incident)
    assert (row.district, row.officer, row.supervisor) == ("370202", "P37020202", "S37020201")
    assert row.responsible_officer == "P37020299"
    sent = deliveries(engine, incident)
    assert {(p, r) for p, r, _ in sent} == {
        ("incident", "P37020202"), ("incident", "P37020299"), ("incident", "S37020201"),
        ("notice", "QD-MUCK-01")}
    assert sent[("incident", "P37020202", "live")].status == "sent"  # live: sent at commit
    assert sent[("incident", "S37020201", "live")].recipient_kind == "supervisor"
    # by day nobody is rostered: the district's responsible officer
    day = open_incident(engine, device="t-0002", ts=datetime(2026, 11, 24, 10, 0, tzinfo=TZ))
    assert rows(engine, "SELECT officer FROM incidents WHERE id = :id", id=day)[0][0] \
        == "P37020201"


def test_outside_every_district_goes_to_home_district(city):
    incident = open_incident(city, severity="serious", at=(36.5, 121.5))
    [row] = rows(city, "SELECT district, officer FROM incidents WHERE id = :id", id=incident)
    assert tuple(row) == ("370202", "P37020201")
    sent = deliveries(city, incident)
    assert ("incident", "S37020201", "live") not in sent  # serious: supervisor only on escalation
    # serious + phone on file: the officer gets an SMS too (default preferences)
    assert sent[("incident", "P37020201", "sms")].status == "pending"


def test_transitions_and_chinese_notice(city):
    ts = datetime(2026, 11, 26, 0, 3, 10, tzinfo=UTC)
    incident = open_incident(city, rule="speeding", severity="serious", key="", ts=ts,
                             speed=74.0, limit=60)
    assert [tuple(r) for r in rows(city, "SELECT from_status, to_status FROM "
                                   "incident_transitions WHERE incident_id = :id",
                                   id=incident)] == [(None, "open")]
    [notice] = rows(city, "SELECT * FROM notices WHERE incident_id = :id", id=incident)
    assert notice.company == "QD-MUCK-01"
    assert notice.title == "【抄告】鲁B00001 超速行驶"
    for part in ("鲁B00001", "渣土车", "2026年11月26日 08:03:10", "市南区", "东经 120.36300",
                 "北纬 36.06500", "超速行驶", "严重", "车速 74.0 km/h", "限速 60 km/h"):
        assert part in notice.text, part
    assert notice.body["occurred_at"] == "2026-11-26T08:03:10+08:00"
    company = deliveries(city, incident)
    assert {c for (p, _, c) in company if p == "notice"} == {"portal", "webhook", "email", "sms"}


def test_cooldown_updates_instead_of_notifying_again(city):
    start = datetime.now(UTC) - timedelta(minutes=10)
    first = open_incident(city, rule="illegal_unloading", severity="serious", key="",
                          action="instant", ts=start)
    again = open_incident(city, rule="illegal_unloading", severity="critical", key="",
                          action="instant", ts=start + timedelta(minutes=2))
    assert first is not None and again is None
    [row] = rows(city, "SELECT severity, details, ended_at FROM incidents")
    assert row.severity == "critical" and row.details["repeats"] == 1
    assert row.ended_at == start + timedelta(minutes=2)
    assert rows(city, "SELECT count(*) FROM notices")[0][0] == 1
    # after the cooldown a new episode is a new incident, notified again
    later = open_incident(city, rule="illegal_unloading", severity="serious", key="",
                          action="instant", ts=start + timedelta(minutes=8))
    assert later is not None and later != first


def test_officer_without_channel_is_recorded(city):
    with transaction(make_sessionmaker(city)) as session:
        session.get(Officer, "P37020201").preferences = {"channels": {"warning": []}}
    incident = open_incident(city, rule="cover_open_moving", severity="warning", key="")
    row = deliveries(city, incident)[("incident", "P37020201", "none")]
    assert row.status == "skipped" and "no channel" in row.last_error
