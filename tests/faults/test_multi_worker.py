"""Two ingest workers on one Mosquitto (``KEYWATCH_INGEST_SLOTS``): one is killed
with SIGKILL while fixes stream in, the survivor resumes its slots, the killed one
is restarted and gets its share back. Nothing lost, nothing stored twice, no fix
of any vehicle processed out of order (no ``late`` flag), incidents exactly those
of one uninterrupted worker."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from ingest.slots import Names
from tests.city import OUTSIDE
from tests.faults.support import fleet_city, publish_fleet, start_part
from tests.helpers import publisher, scalar, wait_for, wait_for_count

SLOTS = 8
CLIENT = "kw-fault-multi"
ENV = {"KEYWATCH_INGEST_SLOTS": str(SLOTS), "KEYWATCH_MQTT_CLIENT_ID": CLIENT,
       "KEYWATCH_INGEST_CLAIM_EVERY": "1"}
OWNERS_SQL = """
SELECT pid, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = :cls
  AND objid::bigint < :slots AND database = (SELECT oid FROM pg_database
                                             WHERE datname = current_database())
GROUP BY pid
"""


def slot_owners(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """How many slots each live worker holds, largest first."""
    with engine.connect() as conn:
        rows = conn.execute(text(OWNERS_SQL), {"cls": Names(CLIENT).lock_class,
                                               "slots": SLOTS}).all()
    return sorted((n for _, n in rows), reverse=True)


def _synced(settings) -> bool:  # type: ignore[no-untyped-def]
    """Every slot has subscribed its devices and said so (its retained announcement)."""
    from ingest.mqtt import BrokerAddress, read_retained

    names = Names(CLIENT)
    found = read_retained(BrokerAddress.parse(settings.mqtt_url), [names.announcement("+")])
    return len(found) == SLOTS


def test_two_workers_one_killed_and_restarted(clean_db, engine, settings):
    devices, steps = 300, 40
    names = fleet_city(engine, "m", devices)
    # the stream ends ~40 s ago: no gap in it reaches signal_lost's 10 minutes
    start = datetime.now(UTC) - timedelta(seconds=10 * steps + 40)
    total = devices * steps
    workers = [start_part(settings, "ingest", **ENV)]
    try:
        wait_for(lambda: slot_owners(engine) == [SLOTS], 30, "the first worker's 8 slots")
        workers.append(start_part(settings, "ingest", **ENV))
        wait_for(lambda: slot_owners(engine) == [4, 4], 30, "the slots shared 4 + 4")
        wait_for(lambda: _synced(settings), 30, "every slot subscribed", poll_s=0.5)

        def stream() -> None:  # ~20 s: the kill, the takeover and the rebalance happen in it
            with publisher(settings) as pub:
                for step in range(steps):
                    publish_fleet(pub, devices=names, per_device=1, start=start,
                                  lat=OUTSIDE[0], lon=OUTSIDE[1], first_step=step)
                    time.sleep(0.4)

        feeder = threading.Thread(target=stream, daemon=True)
        feeder.start()
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM fixes") >= total * 0.25, 120,
                 "a quarter of the stream committed", poll_s=0.05)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        wait_for(lambda: slot_owners(engine) == [SLOTS], 30, "the survivor's takeover")
        assert scalar(engine, "SELECT count(*) FROM fixes") < total, "killed too late"
        workers[0] = start_part(settings, "ingest", **ENV)
        wait_for(lambda: slot_owners(engine) == [4, 4], 30, "the restarted worker's share")
        feeder.join(120)
        wait_for_count(engine, "SELECT count(*) FROM fixes", total, 300,
                       f"all {total} fixes")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(20)
    _assert_as_one_uninterrupted_worker(engine, names, start, steps)


def _assert_as_one_uninterrupted_worker(engine, names, start, steps) -> None:  # type: ignore[no-untyped-def]
    total = len(names) * steps
    assert scalar(engine, "SELECT count(*) FROM fixes") == total  # none lost, none twice
    assert scalar(engine, "SELECT coalesce(sum(fixes_total), 0) FROM vehicle_state") == total
    # per-vehicle order: a fix older than one already processed would be flagged late
    assert scalar(engine, "SELECT count(*) FROM fixes WHERE 'late' = ANY(flags)") == 0
    assert scalar(engine, "SELECT count(*) FROM vehicle_state WHERE last_seq <> :s",
                  s=steps - 1) == 0
    with engine.connect() as conn:
        incidents = conn.execute(text(
            "SELECT v.device_id, i.rule, i.started_at FROM incidents i "
            "JOIN vehicles v ON v.id = i.vehicle_id ORDER BY v.device_id")).all()
    # one uninterrupted worker: one speeding episode for every 10th bus (75 km/h for
    # steps 10–19 against the school bus limit of 60), confirmed after 30 s
    expected = [(name, "speeding") for n, name in enumerate(names) if n % 10 == 0]
    assert [(d, r) for d, r, _ in incidents] == expected, incidents
    starts = {started for _, _, started in incidents}
    assert len(starts) == 1, starts  # the same instant for every bus, as in one run
    assert scalar(engine, "SELECT count(*) FROM dead_letters") == 0, scalar(
        engine, "SELECT string_agg(DISTINCT reason || ': ' || detail, '; ') FROM dead_letters")
