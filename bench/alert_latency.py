"""Benchmark: alert latency under load (issue 6).

With ``--rate`` fixes/s of background load published over MQTT (default 5,000,
as arrays of ``--per-message`` fixes), a fresh vehicle publishes a fix raising
``sos`` every ``--every`` seconds (a critical ``terminal_alarm``). From that
MQTT publish we time (a) the incident committed (its NOTIFY received by a
LISTENing connection), (b) the incident event on an admin's SSE stream
(``GET /api/v1/live``, uvicorn in a thread), (c) the company's signed webhook
received. Runs the real ingest worker, web app and dispatcher against a
scratch database it creates and drops.

    .venv/bin/python bench/alert_latency.py [--rate 5000] [--samples 100] [--every 0.5]

Uses KEYWATCH_DATABASE_URL / KEYWATCH_MQTT_URL, else the private services.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.dispatcher import Dispatcher  # noqa: E402
from bench.common import free_port, scratch_settings  # noqa: E402
from ingest.mqtt import BrokerAddress, Publisher  # noqa: E402
from keywatch.db import make_engine, make_sessionmaker, psycopg_url, transaction  # noqa: E402
from keywatch.process import tune_gc  # noqa: E402
from keywatch.settings import Settings  # noqa: E402
from keywatch.wiring import build_ingest_worker  # noqa: E402

PASSWORD = "bench-password-1"
SECRET = "bench-webhook-secret"


class Stamps:
    """key → first arrival time (monotonic), from several threads."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.lock = threading.Lock()

    def mark(self, key: str) -> None:
        now = time.monotonic()
        with self.lock:
            self.times.setdefault(key, now)


def load_city(engine, *, background: int, samples: int, webhook: str) -> None:  # type: ignore[no-untyped-def]
    from geoalchemy2.shape import from_shape
    from shapely.geometry import MultiPolygon, box

    from registry.accounts import create_user
    from registry.models import Company, District, Officer, OfficerDistrict, Vehicle

    with transaction(make_sessionmaker(engine)) as s:
        s.add_all([Officer(badge="P1", name="张警官"), Officer(badge="S1", name="李队长",
                                                             role="supervisor")])
        s.flush()
        s.add(District(code="370202", name="市南区", officer_badge="P1", supervisor_badge="S1",
                       geom=from_shape(MultiPolygon([box(120.30, 36.03, 120.45, 36.10)]), 4326)))
        s.flush()
        s.add(OfficerDistrict(badge="P1", district="370202"))
        s.add(Company(code="BENCH", name="压测运输公司", kind="freight", webhook_url=webhook,
                      webhook_secret=SECRET))
        s.flush()
        for prefix, count in (("bg", background), ("sos", samples)):
            s.add_all([Vehicle(plate=f"鲁{prefix[0].upper()}{n:05d}", vehicle_class="freight",
                               company_code="BENCH", device_id=f"{prefix}-{n:05d}",
                               home_district="370202", officer_badge="P1", status="active")
                       for n in range(count)])
        create_user(s, username="admin", password=PASSWORD, role="admin")


def webhook_server(stamps: Stamps) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            plate = json.loads(body)["incident"]["plate"]
            stamps.mark(plate)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_web(settings: Settings):  # type: ignore[no-untyped-def]
    import uvicorn

    from dashboard.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1",
                                           port=settings.http_port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def sse_listener(base: str, stamps: Stamps, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, timeout=None) as client:
        token = client.post("/api/v1/auth/token",
                            data={"username": "admin", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with client.stream("GET", "/api/v1/live", headers=headers) as stream:
            event = None
            for line in stream.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "incident":
                    stamps.mark(json.loads(line[6:])["plate"])


def commit_listener(url: str, stamps: Stamps, stop: threading.Event) -> None:
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("LISTEN keywatch_outbox")
        while not stop.is_set():
            for note in conn.notifies(timeout=0.5):
                stamps.mark(note.payload)


def background_load(mqtt_url: str, vehicles: int, rate: int, per_message: int, stop,
                    counter) -> None:  # type: ignore[no-untyped-def]
    """A separate process (no GIL shared with the platform): ``rate`` fixes/s."""
    pub = Publisher(BrokerAddress.parse(mqtt_url)).start()
    rng = np.random.default_rng(7)
    lon = rng.uniform(120.31, 120.345, vehicles)
    lat = rng.uniform(36.04, 36.09, vehicles)
    seq = np.zeros(vehicles, dtype=int)
    messages_per_s = rate / per_message
    start, sent, device = time.monotonic(), 0, 0
    while not stop.is_set():
        if sent >= int((time.monotonic() - start) * messages_per_s):
            time.sleep(0.002)
            continue
        now = datetime.now(UTC)
        fixes = []
        for k in range(per_message):
            lon[device] += 0.00002
            seq[device] += 1
            ts = now - timedelta(seconds=0.2 * (per_message - 1 - k))
            fixes.append({"ts": ts.isoformat(), "lat": round(lat[device], 6),
                          "lon": round(lon[device], 6), "speed": 40.0, "ign": True,
                          "seq": int(seq[device])})
        pub.publish(f"kw/v1/dev/bg-{device:05d}/pos", json.dumps(fixes))
        with counter.get_lock():
            counter.value += per_message
        sent += 1
        device = (device + 1) % vehicles
    pub.stop()


def ingest_process(settings: Settings, stop) -> None:  # type: ignore[no-untyped-def]
    """The ingest worker in its own process, as ``keywatch run --only ingest`` would be."""
    worker = build_ingest_worker(settings)
    tune_gc()  # as keywatch run does
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    stop.wait()
    worker.stop()
    thread.join(15)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"),
                "max": float("nan")}
    arr = np.array(values)
    return {"n": len(arr), "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)), "p99": float(np.percentile(arr, 99)),
            "max": float(arr.max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=5000, help="background fixes/s")
    parser.add_argument("--per-message", type=int, default=5)
    parser.add_argument("--vehicles", type=int, default=1000, help="background vehicles")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--every", type=float, default=0.5, help="s between violations")
    parser.add_argument("--warmup", type=float, default=5.0)
    args = parser.parse_args()

    stamps = {k: Stamps() for k in ("committed", "sse", "webhook")}
    hook = webhook_server(stamps["webhook"])
    stop = threading.Event()
    with scratch_settings(webhook_allow_private=True, http_port=free_port(),
                          mqtt_client_id=f"kw-bench-{uuid.uuid4().hex[:6]}") as settings:
        engine = make_engine(settings.database_url)
        try:
            load_city(engine, background=args.vehicles, samples=args.samples,
                      webhook=f"http://127.0.0.1:{hook.server_address[1]}/hook")
            print(f"scratch database: {args.vehicles} background + {args.samples} "
                  "violating vehicles")
            return run(args, settings, engine, stamps, stop)
        finally:
            stop.set()
            hook.shutdown()
            engine.dispose()



def run(args, settings, engine, stamps, stop) -> int:  # type: ignore[no-untyped-def]
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    child_stop, counter = ctx.Event(), ctx.Value("q", 0)
    ingest = ctx.Process(target=ingest_process, args=(settings, child_stop))
    load = ctx.Process(target=background_load, args=(
        settings.mqtt_url, args.vehicles, args.rate, args.per_message, child_stop, counter))
    ingest.start()
    dispatcher = Dispatcher(make_engine(settings.database_url), settings)
    web = start_web(settings)
    threads = [threading.Thread(target=dispatcher.run, daemon=True),
               threading.Thread(target=sse_listener, daemon=True, args=(
                   f"http://127.0.0.1:{settings.http_port}", stamps["sse"], stop)),
               threading.Thread(target=commit_listener, daemon=True, args=(
                   settings.database_url, stamps["committed"], stop))]
    for thread in threads:
        thread.start()
    time.sleep(3)  # the ingest process connects
    load.start()
    alarm_pub = Publisher(BrokerAddress.parse(settings.mqtt_url)).start()
    time.sleep(args.warmup)
    published: dict[str, float] = {}
    t0, c0 = time.monotonic(), counter.value
    for n in range(args.samples):
        plate, device = f"鲁S{n:05d}", f"sos-{n:05d}"
        fix = {"ts": datetime.now(UTC).isoformat(), "lat": 36.065, "lon": 120.33,
               "speed": 20.0, "alarms": ["sos"]}
        published[plate] = time.monotonic()
        alarm_pub.publish(f"kw/v1/dev/{device}/pos", json.dumps(fix))
        if n % 20 == 19:
            rate = (counter.value - c0) / (time.monotonic() - t0)
            print(f"  {n + 1}/{args.samples} violations published; background "
                  f"{rate:,.0f} fixes/s; incidents committed {len(stamps['committed'].times)}")
        time.sleep(args.every)
    achieved = (counter.value - c0) / (time.monotonic() - t0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and min(len(s.times) for s in stamps.values()) \
            < args.samples:
        time.sleep(0.2)
    stop.set()
    child_stop.set()
    load.join(10)
    ingest.join(20)
    dispatcher.stop()
    alarm_pub.stop()
    web.should_exit = True
    threads[0].join(15)
    time.sleep(1)  # let uvicorn close its connections before the database goes
    return report(engine, published, stamps, achieved, args)


def report(engine, published, stamps, achieved, args) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        plates = {str(i): p for i, p in conn.execute(text("SELECT id, plate FROM incidents"))}
        stored = conn.execute(text("SELECT count(*) FROM fixes")).scalar()
    committed = {plates.get(k, k): t for k, t in stamps["committed"].times.items()}
    table = {}
    for name, times in (("committed", committed), ("sse", stamps["sse"].times),
                        ("webhook", stamps["webhook"].times)):
        table[name] = percentiles([(times[p] - t) * 1000 for p, t in published.items()
                                   if p in times])
    print(f"\nbackground load achieved: {achieved:,.0f} fixes/s (target {args.rate:,}); "
          f"fixes stored {stored:,}")
    print(f"{'stage':<12}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in table.items():
        print(f"{name:<12}{row['n']:>6}{row['p50']:>10.1f}{row['p95']:>10.1f}"
              f"{row['p99']:>10.1f}{row['max']:>10.1f}")
    print(f"RESULT sse_p99_ms={table['sse']['p99']:.0f} webhook_p99_ms="
          f"{table['webhook']['p99']:.0f} committed_p99_ms={table['committed']['p99']:.0f} "
          f"samples={args.samples} background_fixes_per_s={achieved:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
