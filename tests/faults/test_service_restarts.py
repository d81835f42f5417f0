"""PostgreSQL restarted in the middle of a stream, and Mosquitto stopped and started
while the worker is down: the worker waits, reconnects and resumes; nothing lost,
nothing stored twice. These restart the session's private services."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

from tests.city import OUTSIDE
from tests.faults.support import fleet_city, part, probe, publish_fleet, start_part
from tests.helpers import publisher, scalar, wait_for, wait_for_count

CLIENT = {"KEYWATCH_MQTT_CLIENT_ID": "kw-fault-restarts"}


def _city(engine, devices: int) -> list[str]:  # type: ignore[no-untyped-def]
    return fleet_city(engine, "r", devices)


def _probe(pub, engine, start: datetime) -> None:  # type: ignore[no-untyped-def]
    probe(pub, engine, start, "r-probe")


def test_postgres_restart_mid_stream(clean_db, engine, settings, services):
    cluster, _ = services
    names = _city(engine, 100)
    start = datetime.now(UTC) - timedelta(seconds=10 * 60 + 60)
    total = len(names) * 60 + 1
    with part(settings, "ingest", **CLIENT), publisher(settings) as pub:
        _probe(pub, engine, start)
        publish_fleet(pub, devices=names, per_device=60, start=start,
                      lat=OUTSIDE[0], lon=OUTSIDE[1])
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM fixes") >= total * 0.2, 120,
                   "part of the stream", poll_s=0.02)
        engine.dispose()
        cluster.pg_down()  # fast shutdown: the worker's batch in flight is rolled back
        cluster.pg_up()
        wait_for_count(engine, "SELECT count(*) FROM fixes", total, 300,
                       "every fix after the restart")
    assert scalar(engine, "SELECT coalesce(sum(fixes_total), 0) FROM vehicle_state") == total
    assert scalar(engine, "SELECT count(*) FROM incidents WHERE rule = 'speeding'") == 10
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0


def test_broker_restart_while_worker_down(clean_db, engine, settings, services):
    _, broker = services
    names = _city(engine, 50)
    start = datetime.now(UTC) - timedelta(seconds=10 * 40 + 60)
    worker = start_part(settings, "ingest", **CLIENT)
    try:
        with publisher(settings) as pub:
            _probe(pub, engine, start)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    with publisher(settings) as pub:  # queued for the stopped worker's session
        queued = publish_fleet(pub, devices=names, per_device=40, start=start,
                               lat=OUTSIDE[0], lon=OUTSIDE[1])
    broker.mqtt_down()  # graceful, and waits: Mosquitto writes its persistence on exit
    broker.mqtt_up()
    with part(settings, "ingest", **CLIENT):
        wait_for_count(engine, "SELECT count(*) FROM fixes", queued + 1, 180,
                       "every queued fix after the broker restart")
    assert scalar(engine, "SELECT coalesce(sum(fixes_total), 0) FROM vehicle_state") == queued + 1
