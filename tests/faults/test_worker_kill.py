"""kill -9 the ingest worker in the middle of a stream of QoS 1 fixes, restart it:
nothing lost, nothing stored twice, incidents identical to an uninterrupted run.

The quick variant runs in ``make test``; ``make faults`` runs the 100,000-fix one.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest

from keywatch.db import make_sessionmaker, transaction
from tests.city import OUTSIDE, make_city
from tests.faults.support import part, publish_fleet, start_part
from tests.helpers import publisher, scalar, wait_for, wait_for_count

SPEEDING_SQL = "SELECT count(*) FROM incidents WHERE rule = 'speeding'"


def _run(clean_db, engine, settings, *, devices: int, per_device: int, kill_at: float) -> None:
    names = [f"k-{n:04d}" for n in range(devices)]
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices={name: "school_bus" for name in [*names, "k-probe"]})
    # the stream ends a minute ago, so the clock's signal_lost has nothing to say yet
    start = datetime.now(UTC) - timedelta(seconds=10 * per_device + 60)
    total = devices * per_device + 1
    client = {"KEYWATCH_MQTT_CLIENT_ID": "kw-fault-ingest"}
    first = start_part(settings, "ingest", **client)
    try:
        with publisher(settings) as pub:
            # a probe proves the worker's persistent session exists before the stream
            # (re-published until stored: the same fix is stored once)
            def probe() -> bool:
                publish_fleet(pub, devices=["k-probe"], per_device=1, start=start,
                              lat=OUTSIDE[0], lon=OUTSIDE[1], parked=True)
                return scalar(engine, "SELECT count(*) FROM fixes") == 1

            wait_for(probe, 60, "the probe fix", poll_s=0.5)
            # the worker keeps up with the publisher: kill it while the stream is
            # still being published, not after
            stream = threading.Thread(target=publish_fleet, args=(pub,), kwargs={
                "devices": names, "per_device": per_device, "start": start,
                "lat": OUTSIDE[0], "lon": OUTSIDE[1]})
            stream.start()
            wait_for(lambda: scalar(engine, "SELECT count(*) FROM fixes") >= total * kill_at,
                     120, "part of the stream to be committed", poll_s=0.02)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            stream.join(300)
        assert scalar(engine, "SELECT count(*) FROM fixes") < total, "killed too late"
    finally:
        if first.poll() is None:
            first.kill()
    with part(settings, "ingest", **client):
        wait_for_count(engine, "SELECT count(*) FROM fixes", total, 300,
                       f"all {total} fixes after the restart")
    assert scalar(engine, "SELECT count(*) FROM fixes") == total  # none lost, none twice
    assert scalar(engine, "SELECT coalesce(sum(fixes_total), 0) FROM vehicle_state") == total
    # an uninterrupted run opens one speeding episode per 10th device (75 km/h for 100 s
    # against the school bus limit of 60): the kill and the redelivery change nothing
    assert scalar(engine, SPEEDING_SQL) == len(range(0, devices, 10))
    others = scalar(engine, "SELECT count(*) FROM incidents WHERE rule <> 'speeding'")
    assert others == 0, _incidents(engine)
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0


def test_kill_worker_mid_stream(clean_db, engine, settings):
    _run(clean_db, engine, settings, devices=100, per_device=100, kill_at=0.2)


@pytest.mark.slow
def test_kill_worker_mid_100k(clean_db, engine, settings):
    _run(clean_db, engine, settings, devices=500, per_device=200, kill_at=0.4)


def _incidents(engine) -> list:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT rule, plate, started_at, details FROM incidents WHERE rule <> 'speeding'"))]
