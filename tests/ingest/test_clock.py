"""Clock-driven rules through the real database: signal_lost fires from the timer,
with an explicit "now", once; a vehicle that keeps reporting is not flagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from ingest.clock import tick_silent_vehicles
from ingest.messages import InboundMessage
from keywatch.db import make_sessionmaker, transaction
from keywatch.wiring import build_pipeline
from tests.city import OUTSIDE, make_city


def _message(device: str, ts: datetime, speed: float, seq: int) -> InboundMessage:
    body = {"ts": ts.isoformat(), "lat": OUTSIDE[0], "lon": OUTSIDE[1], "speed": speed,
            "ign": True, "seq": seq}
    return InboundMessage(f"kw/v1/dev/{device}/pos", json.dumps(body).encode(), ts)


def test_signal_lost_from_the_clock(clean_db, engine, settings):
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={"t-0001": "freight", "t-0002": "freight"})
    pipeline = build_pipeline(settings, engine)
    last = datetime.now(UTC) - timedelta(minutes=30)
    pipeline.process([_message("t-0001", last, 40.0, 1)], last)
    # t-0001 went silent while moving; t-0002 keeps reporting
    recent = datetime.now(UTC) - timedelta(seconds=90)
    pipeline.process([_message("t-0002", recent - timedelta(seconds=60), 40.0, 1),
                      _message("t-0002", recent, 40.0, 2)], recent)

    assert tick_silent_vehicles(pipeline, last + timedelta(minutes=5)) == 0  # not yet 10 min
    assert tick_silent_vehicles(pipeline, datetime.now(UTC)) == 1
    assert tick_silent_vehicles(pipeline, datetime.now(UTC)) == 0  # one episode, not one per tick
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT rule, plate FROM incidents")).all()
    assert [(r.rule, r.plate) for r in rows] == [("signal_lost", "鲁B00001")]


def test_tick_clock_follows_the_data_while_draining_a_backlog():
    """While messages keep coming the clock is the newest committed fix time (a
    vehicle whose next fixes are still queued is not "silent"); once input has been
    dry for a while it is the wall clock."""
    import time as _time

    from ingest.worker import IDLE_S, IngestWorker

    worker = IngestWorker(None, None, batch_size=10, batch_ms=10, max_age_days=7)  # type: ignore[arg-type]
    worker._watermark = datetime.now(UTC) - timedelta(minutes=40)
    worker._idle_since = None  # busy
    assert worker._tick_time() == worker._watermark
    worker._idle_since = _time.monotonic() - IDLE_S - 1  # caught up
    assert datetime.now(UTC) - worker._tick_time() < timedelta(seconds=5)
