"""Ingest throughput, end to end through the real broker and database.

Publishes N fixes of realistic moving vehicles (one JSON fix per MQTT message,
QoS 1) from separate processes and measures sustained fixes/s until every fix
is committed, in two modes:
- backlog: the queue is filled while the worker is down, then drained;
- live: the worker runs while the publishers publish.
In the same invocation a naive baseline (same MQTT receive path, JSON decode +
COPY into a plain table; no dedupe, no geofences, no rules) drains the same
backlog. Ends with ``RESULT fixes_per_s=… baseline_fixes_per_s=… ratio=…``
(backlog mode).

    .venv/bin/python bench/ingest.py [--fixes 100000] [--vehicles 5000] [--publishers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import scratch_settings  # noqa: E402
from ingest.mqtt import BrokerAddress, Consumer, Publisher  # noqa: E402
from keywatch.db import make_sessionmaker, psycopg_url, transaction  # noqa: E402
from keywatch.process import tune_gc  # noqa: E402
from keywatch.settings import Settings  # noqa: E402
from keywatch.wiring import build_ingest_worker  # noqa: E402
from registry.models import Company, District, Geofence, Officer, Vehicle  # noqa: E402

CLASSES = ("muck_truck", "school_bus", "hazmat", "coach", "freight", "rural_van")


def seed(settings: Settings, vehicles: int, zones: int = 200) -> None:
    engine = create_engine(settings.database_url)
    rng = np.random.default_rng(7)
    with transaction(make_sessionmaker(engine)) as session:
        session.add(Officer(badge="P1", name="值班民警", role="officer"))
        session.flush()
        session.add(District(code="370202", name="青岛", officer_badge="P1",
                             geom=from_shape(MultiPolygon([box(119.9, 35.9, 120.8, 36.6)]),
                                             srid=4326)))
        session.add(Company(code="C1", name="运输公司", kind="freight"))
        session.flush()
        session.add_all(Vehicle(plate=f"鲁B{i:05d}", vehicle_class=CLASSES[i % len(CLASSES)],
                                company_code="C1", device_id=f"b-{i:05d}",
                                home_district="370202", status="active")
                        for i in range(vehicles))
        for z in range(zones):
            x, y = rng.uniform(120.0, 120.7), rng.uniform(35.95, 36.5)
            session.add(Geofence(ref=f"z{z}", name=f"限速区{z}", kind="speed",
                                 classes=[], plates=[], speed_limit=60,
                                 geom=from_shape(box(x, y, x + 0.01, y + 0.01), srid=4326)))
    engine.dispose()


def _publish_worker(url: str, vehicles: range, per_vehicle: int, start_ts: float,
                    seq0: int) -> None:
    publisher = Publisher(BrokerAddress.parse(url)).start()
    rng = np.random.default_rng(vehicles.start)
    lon = rng.uniform(120.0, 120.7, len(vehicles))
    lat = rng.uniform(35.95, 36.5, len(vehicles))
    heading = rng.uniform(0, 360, len(vehicles))
    infos = []
    for step in range(per_vehicle):
        speed = rng.uniform(0, 70, len(vehicles))
        heading += rng.normal(0, 15, len(vehicles))
        lon += np.sin(np.radians(heading)) * speed / 3.6 * 10 / 90000
        lat += np.cos(np.radians(heading)) * speed / 3.6 * 10 / 111000
        ts = datetime.fromtimestamp(start_ts + step * 10, tz=UTC).isoformat()
        for k, vid in enumerate(vehicles):
            payload = json.dumps({"ts": ts, "lat": round(lat[k], 6), "lon": round(lon[k], 6),
                                  "speed": round(speed[k], 1), "heading": round(heading[k] % 360),
                                  "seq": seq0 + step, "ign": True})
            infos.append(publisher.publish(f"kw/v1/dev/b-{vid:05d}/pos", payload))
        if len(infos) > 20000:
            for info in infos:
                info.wait_for_publish(60)
            infos.clear()
    for info in infos:
        info.wait_for_publish(60)
    publisher.stop()


def publish(settings: Settings, vehicles: int, fixes: int, processes: int, start_ts: float,
            seq0: int) -> float:
    per_vehicle = max(1, fixes // vehicles)
    chunk = -(-vehicles // processes)
    jobs = [mp.Process(target=_publish_worker,
                       args=(settings.mqtt_url, range(i, min(i + chunk, vehicles)),
                             per_vehicle, start_ts, seq0))
            for i in range(0, vehicles, chunk)]
    began = time.perf_counter()
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    return time.perf_counter() - began


def committed(settings: Settings) -> int:
    import psycopg

    with psycopg.connect(psycopg_url(settings.database_url)) as conn:
        return conn.execute("SELECT coalesce(sum(fixes_total), 0)::bigint FROM vehicle_state"
                            ).fetchone()[0]


def wait_committed(settings: Settings, target: int, label: str, timeout_s: float = 1800
                   ) -> float:
    began = time.perf_counter()
    last = -1
    while time.perf_counter() - began < timeout_s:
        done = committed(settings)
        if done != last:
            rate = done / max(time.perf_counter() - began, 1e-6)
            sys.stderr.write(f"\r  {label}: {done:,}/{target:,} committed ({rate:,.0f}/s)   ")
            last = done
        if done >= target:
            sys.stderr.write("\n")
            return time.perf_counter() - began
        time.sleep(0.25)
    raise TimeoutError(f"{label}: only {last} of {target} committed")


def prime_session(settings: Settings, client_id: str) -> None:
    """Create the worker's persistent session so the broker queues while it is down."""
    consumer = Consumer(BrokerAddress.parse(settings.mqtt_url), client_id,
                        session_expiry_s=3600)
    consumer.start()
    consumer.connected.wait(10)
    time.sleep(0.5)
    consumer.stop()


def run_worker(settings: Settings, client_id: str):  # type: ignore[no-untyped-def]
    worker = build_ingest_worker(settings, client_id=client_id)
    worker.consumer.session_expiry_s = 3600
    tune_gc()  # as keywatch run does
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, thread


def baseline(settings: Settings, target: int) -> float:
    """Naive: the same MQTT receive path, JSON decode + COPY into a plain table."""
    import psycopg

    client_id = f"bench-base-{uuid.uuid4().hex[:6]}"
    prime_session(settings, client_id)
    url = psycopg_url(settings.database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS baseline_fixes (device_id text, ts timestamptz,"
                     " lon float8, lat float8, speed float8, heading float8)")
    publish(settings, VEHICLES, FIXES, PUBLISHERS, START - 86400, 0)
    consumer = Consumer(BrokerAddress.parse(settings.mqtt_url), client_id, session_expiry_s=3600)
    consumer.start()
    done = 0
    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        while done < target:
            messages = consumer.take(2000, 0.2)
            if not messages:
                continue
            with conn.cursor() as cur, cur.copy(
                    "COPY baseline_fixes FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "timestamptz", "float8", "float8", "float8", "float8"])
                for message in messages:
                    item = json.loads(message.payload)
                    copy.write_row((message.topic.split("/")[3],
                                    datetime.fromisoformat(item["ts"]), item["lon"],
                                    item["lat"], item["speed"], item["heading"]))
            conn.commit()
            consumer.ack(messages)
            done += len(messages)
            sys.stderr.write(f"\r  baseline: {done:,}/{target:,} committed   ")
    sys.stderr.write("\n")
    elapsed = time.perf_counter() - began
    consumer.stop()
    return elapsed


def main() -> None:
    global FIXES, VEHICLES, PUBLISHERS, START
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=100_000)
    parser.add_argument("--vehicles", type=int, default=5_000)
    parser.add_argument("--publishers", type=int, default=2)
    args = parser.parse_args()
    FIXES, VEHICLES, PUBLISHERS = args.fixes, args.vehicles, args.publishers
    total = (FIXES // VEHICLES) * VEHICLES
    START = (datetime.now(UTC) - timedelta(hours=30)).timestamp()
    with scratch_settings(batch_ms=200) as settings:
        print(f"seeding {VEHICLES:,} vehicles and 200 zones …", file=sys.stderr)
        seed(settings, VEHICLES)

        client_id = f"bench-ingest-{uuid.uuid4().hex[:6]}"
        prime_session(settings, client_id)
        print(f"backlog: publishing {total:,} fixes while the worker is down …", file=sys.stderr)
        pub_s = publish(settings, VEHICLES, FIXES, PUBLISHERS, START, 0)
        worker, thread = run_worker(settings, client_id)
        backlog_s = wait_committed(settings, total, "backlog drain")

        print(f"live: publishing {total:,} fixes with the worker running …", file=sys.stderr)
        began = time.perf_counter()
        live_pub_s = publish(settings, VEHICLES, FIXES, PUBLISHERS,
                             START + FIXES // VEHICLES * 10 + 60, 100_000)
        live_s = wait_committed(settings, 2 * total, "live") + 0 * began
        live_s = time.perf_counter() - began
        worker.stop()
        thread.join(30)

        print("baseline (decode + COPY only) on the same backlog …", file=sys.stderr)
        base_s = baseline(settings, total)

    rows = [
        ("publish backlog", total / pub_s),
        ("ingest backlog drain", total / backlog_s),
        ("ingest live (publish → committed)", total / live_s),
        ("  live publish rate", total / live_pub_s),
        ("baseline backlog drain", total / base_s),
    ]
    print(f"\n{'measure':38} {'fixes/s':>10}")
    for name, rate in rows:
        print(f"{name:38} {rate:10,.0f}")
    fixes_per_s, base_per_s = total / backlog_s, total / base_s
    print(f"RESULT fixes_per_s={fixes_per_s:.0f} live_fixes_per_s={total / live_s:.0f} "
          f"baseline_fixes_per_s={base_per_s:.0f} ratio={fixes_per_s / base_per_s:.2f}")


FIXES = VEHICLES = PUBLISHERS = 0
START = 0.0

if __name__ == "__main__":
    main()
