"""Ingest slots (ingest.slots): devices spread over persistent sessions that workers
claim with advisory locks; the main session takes what no slot covers yet. Real
PostGIS and Mosquitto, workers in threads."""

from __future__ import annotations

import json
import threading
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import text

from ingest.coverage import Coverage
from ingest.mqtt import BrokerAddress, read_retained
from ingest.slots import Names, slot_of
from keywatch.db import make_sessionmaker, transaction
from keywatch.wiring import build_ingest_worker
from registry.models import Vehicle
from tests.city import OUTSIDE, make_city
from tests.helpers import (
    fix,
    publish_json,
    publisher,
    scalar,
    wait_for,
    wait_for_count,
    with_settings,
)

SLOTS = 4


def test_slot_of_is_stable_and_spread():
    assert slot_of("qd-0001", 8) == zlib.crc32(b"qd-0001") % 8 == slot_of("qd-0001", 8)
    counts = Counter(slot_of(f"sim-{n:05d}", 8) for n in range(8000))
    assert set(counts) == set(range(8))
    assert max(counts.values()) < 1.1 * 1000 and min(counts.values()) > 0.9 * 1000


def test_coverage_follows_the_stream_and_resumes_from_what_was_applied():
    def announce(k: int, *devices: str, slots: int = 4) -> bytes:
        return json.dumps({"slots": slots, "slot": k, "devices": list(devices)}).encode()

    coverage = Coverage(4)
    assert coverage.see(announce(1, "a", "b"))
    assert coverage.covers("a") and not coverage.covers("c")
    assert not coverage.see(announce(1, "c", slots=8))  # another S: not ours
    assert coverage.see(announce(1, "b"))  # "a" left slot 1
    assert not coverage.covers("a") and coverage.covers("b")
    # nothing applied yet (its messages before the announcement not committed):
    # a resumed session starts from the applied state, not from what was seen
    coverage.resume(session_present=True)
    assert not coverage.covers("b")
    assert coverage.apply([announce(1, "a", "b"), announce(2, "z")])
    assert not coverage.apply([announce(2, "z")])  # nothing new: nothing to save
    saved = coverage.state()
    restored = Coverage(4)
    restored.restore(saved)
    restored.resume(session_present=True)
    assert restored.covers("a") and restored.covers("z")
    restored.resume(session_present=False)  # a new session: the retained ones come again
    assert not restored.covers("a") and restored.applied == {}
    other = Coverage(8)
    other.restore(saved)
    assert other.applied == {}


@contextmanager
def worker(settings, client_id: str, slots: int = SLOTS, **changes: Any) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A real ingest worker (build_ingest_worker) in a thread; stopped on exit."""
    configured = with_settings(settings, ingest_slots=slots, ingest_claim_every=0.3,
                               mqtt_client_id=client_id, **changes)
    w = build_ingest_worker(configured)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        yield w
    finally:
        w.stop()
        thread.join(timeout=15)


def _city(engine, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    names = [f"s-{n:04d}" for n in range(count)]
    with transaction(make_sessionmaker(engine)) as session:
        make_city(session, devices=dict.fromkeys(names, "freight"))
    return names


def _publish(pub, devices: list[str], step: int) -> None:  # type: ignore[no-untyped-def]
    ts = datetime.now(UTC) - timedelta(minutes=5) + timedelta(seconds=10 * step)
    for device in devices:
        publish_json(pub, device, "pos", fix(ts, *OUTSIDE, speed=30.0, seq=step))


def _duplicates() -> float:
    return REGISTRY.get_sample_value("keywatch_fixes_duplicate_total") or 0.0


def _late(engine) -> int:  # type: ignore[no-untyped-def]
    return scalar(engine, "SELECT count(*) FROM fixes WHERE 'late' = ANY(flags)")


def test_one_worker_runs_main_and_every_slot(clean_db, engine, settings):
    names = _city(engine, 40)
    client = f"kw-slots-{uuid.uuid4().hex[:6]}"
    duplicates = _duplicates()
    with worker(settings, client) as w, publisher(settings) as pub:
        wait_for(w.consumer.connected.is_set, 20, "main and the 4 slots subscribed")
        assert sorted(w.consumer.owned) == list(range(SLOTS)) and w.consumer.main
        for step in range(3):
            _publish(pub, names, step)
        publish_json(pub, "nobody", "pos", fix(datetime.now(UTC), *OUTSIDE))
        wait_for_count(engine, "SELECT count(*) FROM fixes", 120, 30, "120 fixes")
        wait_for_count(engine, "SELECT count(*) FROM dead_letters", 1, 10,
                       "the unknown device's dead letter (through main)")
    assert scalar(engine, "SELECT reason FROM dead_letters") == "unknown_device"
    assert _late(engine) == 0
    assert _duplicates() == duplicates  # main skipped what the slots had
    found = read_retained(BrokerAddress.parse(settings.mqtt_url),
                          [Names(client).announcement("+")])
    announced = [set(json.loads(body)["devices"]) for body in found.values()]
    assert len(announced) == SLOTS and set().union(*announced) == set(names)


def test_device_registered_while_running_goes_through_main_then_its_slot(
        clean_db, engine, settings):
    names = _city(engine, 8)
    client = f"kw-slots-{uuid.uuid4().hex[:6]}"
    newcomer = "s-new"
    with worker(settings, client, ingest_resync_every=3600) as w, publisher(settings) as pub:
        wait_for(w.consumer.connected.is_set, 20, "the slots subscribed")
        with transaction(make_sessionmaker(engine)) as session:
            session.add(Vehicle(plate="鲁B99999", vehicle_class="freight", device_id=newcomer,
                                company_code="QD-OTHER-01", home_district="370202",
                                status="active"))
        _publish(pub, [*names, newcomer], 0)  # its slot does not know it yet: main has it
        wait_for_count(engine, "SELECT count(*) FROM fixes", 9, 20, "9 fixes")
        w.consumer.registry_changed()  # what the broker-account sync hook does
        k = slot_of(newcomer, SLOTS)
        wait_for(lambda: newcomer in (w.consumer.owned[k].announced or ()), 20,
                 "the newcomer subscribed by its slot")
        _publish(pub, [*names, newcomer], 1)
        wait_for_count(engine, "SELECT count(*) FROM fixes", 18, 20, "18 fixes")
        with engine.begin() as conn:  # the vehicle leaves: its slot lets it go
            conn.execute(text("UPDATE vehicles SET status = 'inactive' WHERE device_id = :d"),
                         {"d": newcomer})
        w.consumer.registry_changed()
        wait_for(lambda: newcomer not in (w.consumer.owned[k].announced or {newcomer}), 20,
                 "the newcomer dropped by its slot")
        _publish(pub, [newcomer], 2)
        # through main again: a dead letter, or stored while the registry cache (30 s)
        # still knows the vehicle — never dropped
        wait_for(lambda: scalar(engine, "SELECT count(*) FROM dead_letters") + scalar(
            engine, "SELECT count(*) FROM fixes WHERE device_id = :d", d=newcomer) == 3, 20,
            "the retired device's fix handled by main")
    assert _late(engine) == 0


def test_two_workers_share_the_slots_and_one_takes_over(clean_db, engine, settings):
    names = _city(engine, 40)
    client = f"kw-slots-{uuid.uuid4().hex[:6]}"
    with worker(settings, client) as a, publisher(settings) as pub:
        wait_for(a.consumer.connected.is_set, 20, "the first worker's sessions")
        with worker(settings, client) as b:
            wait_for(lambda: len(a.consumer.owned) == len(b.consumer.owned) == 2
                     and b.consumer.connected.is_set(), 20, "2 + 2 slots")
            assert (a.consumer.main is None) != (b.consumer.main is None)  # one main
            # the sequence-gap scan (due at once: its first window) runs in main's worker only
            leader, other = (a, b) if a.consumer.leads() else (b, a)
            assert not other.consumer.leads()
            wait_for(lambda: leader.gaps._next is not None, 10, "the leader's gap scan")
            assert other.gaps._next is None
            _publish(pub, names, 0)
            wait_for_count(engine, "SELECT count(*) FROM fixes", 40, 20, "40")
        wait_for(lambda: len(a.consumer.owned) == SLOTS and a.consumer.main is not None
                 and a.consumer.connected.is_set(), 20, "the survivor's takeover")
        _publish(pub, names, 1)
        wait_for_count(engine, "SELECT count(*) FROM fixes", 80, 20, "80")
    assert _late(engine) == 0


def test_without_slots_a_second_worker_is_a_standby(clean_db, engine, settings):
    names = _city(engine, 5)
    client = f"kw-main-{uuid.uuid4().hex[:6]}"
    with worker(settings, client, slots=0) as a, publisher(settings) as pub:
        wait_for(a.consumer.connected.is_set, 20, "the first worker's main session")
        with worker(settings, client, slots=0) as b:
            wait_for(lambda: b.consumer.claims.alive(), 10, "the standby's claims")
            _publish(pub, names, 0)
            wait_for_count(engine, "SELECT count(*) FROM fixes", 5, 20, "5 fixes")
            assert b.consumer.main is None and not b.consumer.connected.is_set()
            a.stop()  # the owner goes: the standby resumes main's session
            wait_for(b.consumer.connected.is_set, 20, "the standby's takeover")
            _publish(pub, names, 1)
            wait_for_count(engine, "SELECT count(*) FROM fixes", 10, 20, "10")


def test_losing_the_claims_connection_gives_the_sessions_up(clean_db, engine, settings):
    names = _city(engine, 10)
    client = f"kw-slots-{uuid.uuid4().hex[:6]}"
    with worker(settings, client) as w, publisher(settings) as pub:
        wait_for(w.consumer.connected.is_set, 20, "the sessions")
        pid = w.consumer.claims.conn.info.backend_pid
        with engine.begin() as conn:  # as a PostgreSQL restart would: every lock is gone
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        wait_for(lambda: w.consumer.claims.conn is not None
                 and w.consumer.claims.conn.info.backend_pid != pid
                 and w.consumer.connected.is_set(), 20, "the sessions claimed again")
        _publish(pub, names, 0)
        wait_for_count(engine, "SELECT count(*) FROM fixes", 10, 20, "10 fixes")


def test_workers_starting_together_create_partitions_once(clean_db, engine, settings):
    """Found by bench/soak.py with two workers: both created the same day's partition
    and one died of DuplicateTable. Now one at a time, the other finds it there."""
    from ingest.worker import ensure_partitions
    from keywatch.wiring import build_pipeline

    far = datetime.now(UTC).date() + timedelta(days=900)  # days no test has made yet
    pipelines = [build_pipeline(settings) for _ in range(4)]
    gate = threading.Barrier(len(pipelines))
    errors: list[BaseException] = []

    def make(pipeline) -> None:  # type: ignore[no-untyped-def]
        gate.wait()
        try:
            ensure_partitions(pipeline, far, 0, 5)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(p,)) for p in pipelines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    names = [f"fixes_{far + timedelta(days=n):%Y%m%d}" for n in range(6)]
    try:
        assert errors == []
        assert scalar(engine, "SELECT count(*) FROM pg_class WHERE relname = ANY(:n)",
                      n=names) == 6
    finally:
        with engine.begin() as conn:
            for name in names:
                conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        for pipeline in pipelines:
            pipeline.close()
