"""Escalation with a controlled clock, the incident workflow over HTTP (ack, resolve,
assign), and the deliveries and notices APIs with their scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from keywatch.db import make_sessionmaker, transaction
from registry.accounts import create_user
from tests.alerts.conftest import utcnow
from tests.alerts.support import deliveries, open_incident, rows
from tests.city import PASSWORD


@pytest.fixture
def api(city, alert_settings):  # type: ignore[no-untyped-def]
    with transaction(make_sessionmaker(city)) as session:
        create_user(session, username="captain", password=PASSWORD, role="supervisor",
                    officer_badge="S37020201")
    with TestClient(create_app(alert_settings)) as client:
        yield client


def _as(client, username):
    token = client.post("/api/v1/auth/token",
                        data={"username": username, "password": PASSWORD}).json()
    client.cookies.clear()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_unacknowledged_serious_incident_escalates_after_ten_minutes(city, dispatcher):
    serious = open_incident(city, severity="serious", key="power_cut")
    warning = open_incident(city, severity="warning", key="overspeed")
    acked = open_incident(city, device="t-0002", severity="serious", key="power_cut")
    with city.begin() as conn:
        conn.exec_driver_sql("UPDATE incidents SET status = 'acknowledged' WHERE id = %s",
                             (acked,))
    now = utcnow()
    assert dispatcher.tick(now + timedelta(minutes=9)).escalated == []
    assert dispatcher.tick(now + timedelta(minutes=11)).escalated == [serious]
    assert dispatcher.tick(now + timedelta(minutes=12)).escalated == []  # once only
    [row] = rows(city, "SELECT status, escalated_at FROM incidents WHERE id = :id", id=serious)
    assert row.status == "escalated"
    assert rows(city, "SELECT status FROM incidents WHERE id = :id", id=warning)[0][0] == "open"
    transitions = rows(city, "SELECT from_status, to_status, actor FROM incident_transitions "
                       "WHERE incident_id = :id ORDER BY id", id=serious)
    assert [tuple(t) for t in transitions] == [(None, "open", "system"),
                                               ("open", "escalated", "system")]
    sent = deliveries(city, serious)
    assert sent[("escalation", "S37020201", "live")].status == "sent"


def test_critical_supervisor_is_not_told_twice_on_escalation(city, dispatcher):
    incident = open_incident(city, severity="critical")
    dispatcher.tick(utcnow() + timedelta(minutes=11))
    purposes = {p for (p, r, _) in deliveries(city, incident) if r == "S37020201"}
    assert purposes == {"incident"}
    assert rows(city, "SELECT status FROM incidents WHERE id = :id", id=incident)[0][0] \
        == "escalated"


def test_ack_resolve_and_assign_over_http(api, city):
    incident = open_incident(city, severity="serious", key="power_cut")
    officer, captain, admin = _as(api, "officer1"), _as(api, "captain"), _as(api, "admin")
    # officers may not reassign; supervisors and admins may
    denied = api.post(f"/api/v1/incidents/{incident}/assign", json={"officer": "P37020301"},
                      headers=officer)
    assert denied.status_code == 403
    unknown = api.post(f"/api/v1/incidents/{incident}/assign", json={"officer": "NOBODY"},
                       headers=captain)
    assert unknown.status_code == 422 and "NOBODY" in unknown.json()["error"]
    assigned = api.post(f"/api/v1/incidents/{incident}/assign",
                        json={"officer": "P37020301", "note": "就近处置"}, headers=captain)
    assert assigned.status_code == 200 and assigned.json()["officer"] == "P37020301"
    again = api.post(f"/api/v1/incidents/{incident}/assign", json={"officer": "P37020301"},
                     headers=admin)
    assert again.status_code == 409
    assert deliveries(city, incident)[("assignment", "P37020301", "live")].status == "sent"
    assert api.post(f"/api/v1/incidents/{incident}/ack", headers=captain).status_code == 200
    resolved = api.post(f"/api/v1/incidents/{incident}/resolve", json={"outcome": "handled"},
                        headers=captain)
    assert resolved.json()["status"] == "resolved"
    history = rows(city, "SELECT from_status, to_status, actor, note FROM incident_transitions"
                   " WHERE incident_id = :id ORDER BY id", id=incident)
    assert [(t.from_status, t.to_status, t.actor) for t in history] == [
        (None, "open", "system"), ("open", "open", "captain"),
        ("open", "acknowledged", "captain"), ("acknowledged", "resolved", "captain")]
    assert history[1].note == "assigned from P37020201 to P37020301: 就近处置"
    closed = api.post(f"/api/v1/incidents/{incident}/assign", json={"officer": "P37020201"},
                      headers=admin)
    assert closed.status_code == 409


def test_notices_are_scoped_by_company(api, city):
    mine = open_incident(city, device="t-0001")  # QD-MUCK-01
    theirs = open_incident(city, device="t-0002")  # QD-OTHER-01
    muck = api.get("/api/v1/notices", headers=_as(api, "muck")).json()
    assert [n["incident_id"] for n in muck] == [mine]
    assert muck[0]["rule_name"] == "终端报警" and muck[0]["district_name"] == "市南区"
    assert muck[0]["occurred_at"].endswith("+08:00")
    other = _as(api, "other")
    assert [n["incident_id"] for n in api.get("/api/v1/notices", headers=other).json()] \
        == [theirs]
    assert api.get(f"/api/v1/notices/{muck[0]['id']}", headers=other).status_code == 404
    # police may filter by company
    admin = _as(api, "admin")
    filtered = api.get("/api/v1/notices", params={"company": "QD-OTHER-01"}, headers=admin)
    assert [n["incident_id"] for n in filtered.json()] == [theirs]


def test_deliveries_api_for_admins_and_supervisors(api, city, dispatcher, receiver):
    incident = open_incident(city)
    dispatcher.tick(utcnow())
    admin = _as(api, "admin")
    listed = api.get("/api/v1/deliveries", params={"incident_id": incident}, headers=admin)
    assert listed.status_code == 200
    channels = {(d["recipient"], d["channel"]): d["status"] for d in listed.json()}
    assert channels[("QD-MUCK-01", "webhook")] == "sent"
    one = next(d for d in listed.json() if d["channel"] == "webhook")
    detail = api.get(f"/api/v1/deliveries/{one['id']}", headers=admin).json()
    assert [a["ok"] for a in detail["history"]] == [True]
    assert api.get("/api/v1/deliveries", headers=_as(api, "captain")).status_code == 200
    assert api.get("/api/v1/deliveries", headers=_as(api, "officer1")).status_code == 403
    assert api.get("/api/v1/deliveries", headers=_as(api, "muck")).status_code == 403
    targets = api.get("/api/v1/deliveries/targets", headers=admin).json()
    assert any(t["recipient"] == "QD-MUCK-01" and t["channel"] == "webhook"
               and not t["failing"] for t in targets)
    metrics = api.get("/metrics").text
    assert 'keywatch_deliveries_total{channel="webhook",outcome="sent"}' in metrics


def test_dispatcher_raises_inspection_overdue_once(city, settings):
    """The dispatcher's clock opens last month's inspection_overdue incidents, once."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from alerts.dispatcher import Dispatcher

    with city.begin() as conn:
        conn.execute(text("DELETE FROM inspections"))  # nobody inspected anything
        trucks = conn.execute(text(
            "SELECT count(*) FROM vehicles WHERE vehicle_class = 'muck_truck' "
            "AND status = 'active'")).scalar_one()
    dispatcher = Dispatcher(city, settings)
    try:
        now = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
        assert len(dispatcher.check_inspections(now)) == trucks > 0
        assert dispatcher.check_inspections(now) == []  # not again within 5 minutes
        dispatcher._inspections_checked = None
        assert dispatcher.check_inspections(now) == []  # idempotent per month
    finally:
        dispatcher.close()
    with city.connect() as conn:
        months = conn.execute(text(
            "SELECT DISTINCT episode_key FROM incidents WHERE rule = 'inspection_overdue'"
        )).scalars().all()
    assert months == ["2026-10"]
