"""Issue 2's thin slice, through the real broker and database.

A JSON fix published to kw/v1/dev/{id}/pos is stored once (twice published,
once stored); a fix inside an active restricted zone opens one forbidden_zone
incident routed to the district's officer and visible at GET /api/v1/incidents
with a bearer token; a malformed message becomes a dead letter and the worker
keeps running.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from dashboard.app import create_app
from keywatch.db import make_sessionmaker, transaction
from tests.city import INSIDE, OUTSIDE, PASSWORD, make_city
from tests.helpers import (
    fix,
    now_local,
    publish_json,
    publisher,
    running_worker,
    scalar,
    wait_for,
    wait_for_count,
)


@pytest.fixture
def city(clean_db, engine):
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session)
    return engine



def test_fix_to_incident_to_api(city, settings):
    engine = city
    start = now_local(settings, minutes_ago=5)
    with running_worker(settings), publisher(settings) as pub:
        first = fix(start, *OUTSIDE, speed=30.0, seq=1)
        publish_json(pub, "t-0001", "pos", first)
        publish_json(pub, "t-0001", "pos", first)  # the same fix again
        wait_for_count(engine, "SELECT count(*) FROM vehicle_state "
                                "WHERE fixes_total >= 1", 1, what="the first fix")

        # inside the restricted zone for 20 s (membership is confirmed after 15 s)
        inside = [fix(start + timedelta(seconds=s), *INSIDE, speed=25.0, seq=2 + i)
                  for i, s in enumerate((30, 40, 50))]
        publish_json(pub, "t-0001", "pos", inside)
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM incidents") >= 1,
                 what="a forbidden_zone incident")

        publish_json(pub, "t-0001", "pos", inside)  # redelivered batch: nothing changes
        pub.publish_and_wait("kw/v1/dev/t-0001/pos", b"{not json")
        wait_for_count(engine, "SELECT count(*) FROM dead_letters", 1,
                       what="the dead letter")
        # the worker is still running: a later fix is stored
        publish_json(pub, "t-0001", "pos", fix(start + timedelta(seconds=60), *INSIDE, seq=9))
        wait_for_count(engine, "SELECT count(*) FROM fixes", 5,
                       what="the fix after the dead letter")

    assert scalar(engine, "SELECT count(*) FROM fixes WHERE seq = 1") == 1
    assert scalar(engine, "SELECT count(*) FROM incidents") == 1
    reason = scalar(engine, "SELECT reason || ':' || convert_from(payload, 'UTF8') "
                    "FROM dead_letters")
    assert reason == "bad_json:{not json"

    with TestClient(create_app(settings)) as client:
        _check_api(client)


def _check_api(client):
    # the worker ran in this process: its metrics are on this app's /metrics
    metrics = client.get("/metrics").text
    assert 'keywatch_incidents_opened_total{rule="forbidden_zone"}' in metrics
    assert "keywatch_ingest_lag_seconds_count" in metrics
    assert 'keywatch_dead_letters_total{reason="bad_json"}' in metrics
    token = client.post("/api/v1/auth/token",
                        data={"username": "officer1", "password": PASSWORD}).json()
    response = client.get("/api/v1/incidents",
                          headers={"Authorization": f"Bearer {token['access_token']}"})
    assert response.status_code == 200
    [incident] = response.json()
    assert incident["rule"] == "forbidden_zone"
    assert incident["officer"] == "P37020201"
    assert incident["district"] == "370202"
    assert incident["plate"] == "鲁B00001"
    assert incident["company"] == "QD-MUCK-01"
    assert incident["status"] == "open"

    # another district's officer does not see it; no token is a 401 with a JSON message
    other = client.post("/api/v1/auth/token",
                        data={"username": "officer2", "password": PASSWORD}).json()
    hidden = client.get("/api/v1/incidents",
                        headers={"Authorization": f"Bearer {other['access_token']}"})
    assert hidden.json() == []
    client.cookies.clear()  # the token call also set the browser cookie
    anonymous = client.get("/api/v1/incidents")
    assert anonymous.status_code == 401 and "error" in anonymous.json()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"lat": 36.0, "lon": 120.3}', "missing_field"),
        (b'{"ts": "2026-11-26T08:00:05", "lat": 36.0, "lon": 120.3}', "bad_ts"),
        (b'{"ts": 1, "lat": 91.0, "lon": 120.3}', "out_of_range"),
        (b'{"ts": 1, "lat": NaN, "lon": 120.3}', "out_of_range"),
        (b"\xff\xfe garbage", "bad_json"),
    ],
)
def test_bad_input_becomes_dead_letter(city, settings, payload, reason):
    engine = city
    if payload.startswith(b'{"ts": 1,'):
        ts = int(now_local(settings).timestamp() * 1000)
        payload = payload.replace(b'"ts": 1,', f'"ts": {ts},'.encode())
    with running_worker(settings), publisher(settings) as pub:
        pub.publish_and_wait("kw/v1/dev/t-0001/pos", payload)
        wait_for_count(engine, "SELECT count(*) FROM dead_letters", 1,
                       what="the dead letter")
    assert scalar(engine, "SELECT reason FROM dead_letters") == reason
    assert scalar(engine, "SELECT count(*) FROM fixes") == 0


def test_unknown_device_is_dead_lettered_and_batch_goes_on(city, settings):
    engine = city
    ts = now_local(settings, minutes_ago=1)
    with running_worker(settings), publisher(settings) as pub:
        publish_json(pub, "nobody-1", "pos", fix(ts, *OUTSIDE))
        publish_json(pub, "t-0001", "pos", [fix(ts, *OUTSIDE), {"ts": ts.isoformat()}])
        wait_for_count(engine, "SELECT count(*) FROM dead_letters", 2,
                       what="two dead letters")
        wait_for_count(engine, "SELECT count(*) FROM fixes", 1, what="the good fix")
    reasons = {r for (r,) in engine.connect().execute(text("SELECT reason FROM dead_letters"))}
    assert reasons == {"unknown_device", "missing_field"}


def test_health_and_readiness(settings):
    from tests.helpers import with_settings

    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "database": "ok", "broker": "ok"}
        assert "keywatch_sse_clients" in client.get("/metrics").text
    broken = with_settings(settings, mqtt_url="mqtt://127.0.0.1:1")
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["broker"].startswith("unreach")
