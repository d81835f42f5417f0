"""Retention drops old daily partitions but keeps the fixes around incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from ingest.retention import drop_expired
from keywatch.db import make_sessionmaker, transaction
from tests.city import make_city

OLD_DAY = datetime(2026, 8, 1, 6, 0, tzinfo=UTC)


def test_old_partition_dropped_evidence_kept(clean_db, engine):
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        make_city(session)
        session.execute(text("SELECT keywatch_ensure_fix_partition(DATE '2026-08-01')"))
        for minute in (0, 5, 60):  # the first two are near the incident, the last is not
            session.execute(text(
                "INSERT INTO fixes (device_id, ts, seq, vehicle_id, geom) VALUES "
                "('t-0001', :ts, :seq, 1, ST_SetSRID(ST_MakePoint(120.36, 36.06), 4326))"),
                {"ts": OLD_DAY + timedelta(minutes=minute), "seq": minute})
        session.execute(text(
            "INSERT INTO incidents (rule, episode_key, severity, status, vehicle_id, plate, "
            "vehicle_class, started_at, ended_at, updated_at, details) VALUES ('speeding', '', "
            "'warning', 'resolved', 1, '鲁B00001', 'muck_truck', :s, :e, :s, '{}')"),
            {"s": OLD_DAY + timedelta(minutes=2), "e": OLD_DAY + timedelta(minutes=4)})

    now = datetime(2026, 11, 27, tzinfo=UTC)
    with transaction(factory) as session:
        dropped = drop_expired(session, keep_days=90, now=now)
    assert "fixes_20260801" in dropped
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('fixes_20260801')")).scalar() is None
        kept = conn.execute(text("SELECT seq FROM evidence_fixes ORDER BY seq")).scalars().all()
    assert kept == [0, 5]
    with transaction(factory) as session:  # idempotent
        assert drop_expired(session, keep_days=90, now=now) == []
