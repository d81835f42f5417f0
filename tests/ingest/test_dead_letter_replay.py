"""A fix from an unknown device is dead-lettered; once the device is registered,
re-playing the dead letter through the API stores it (once)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text

from dashboard.app import create_app
from ingest.messages import InboundMessage
from keywatch.db import make_sessionmaker, transaction
from keywatch.wiring import build_pipeline
from registry.models import Vehicle
from tests.city import OUTSIDE, PASSWORD, make_city


def test_replay_after_registering_the_device(clean_db, engine, settings):
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session)
    ts = datetime.now(UTC) - timedelta(minutes=3)
    body = json.dumps({"ts": ts.isoformat(), "lat": OUTSIDE[0], "lon": OUTSIDE[1]}).encode()
    build_pipeline(settings, engine).process(
        [InboundMessage("kw/v1/dev/new-0009/pos", body, ts)], ts)
    with engine.connect() as conn:
        [(dead_id, reason)] = conn.execute(text("SELECT id, reason FROM dead_letters")).all()
    assert reason == "unknown_device"

    with transaction(make_sessionmaker(engine)) as session:
        session.add(Vehicle(plate="鲁B77777", vehicle_class="freight", device_id="new-0009",
                            home_district="370202", status="active"))
    with TestClient(create_app(settings)) as client:
        token = client.post("/api/v1/auth/token",
                            data={"username": "admin", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        first = client.post("/api/v1/dead-letters/replay", json={"ids": [dead_id]},
                            headers=headers)
        again = client.post("/api/v1/dead-letters/replay", json={"ids": [dead_id]},
                            headers=headers)
        bad = client.post("/api/v1/dead-letters/replay", json={"ids": []}, headers=headers)
        listed = client.get("/api/v1/dead-letters", headers=headers).json()
    assert first.json() == {"replayed": 1, "stored": 1, "rejected": 0}
    assert again.json() == {"replayed": 0, "stored": 0, "rejected": 0}
    assert bad.status_code == 422
    assert listed[0]["replayed_at"] is not None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fixes")).scalar_one() == 1
