"""Benchmark: geofence enrichment + the full rule pack, vs. PostGIS membership.

Synthetic Qingdao (lon 119.9-120.7, lat 35.9-36.5): 2,000 zones of every kind,
10,000 vehicles of every class, 100 fixes each (1,000,000 fixes). Times
``FenceIndex.containing`` (in ingest-sized chunks) and
``RuleEngine.process_many`` (ingest-sized calls of many vehicles), then -- when
KEYWATCH_DATABASE_URL names a PostGIS server -- the same membership as one
``ST_Contains`` join, in a scratch database created and dropped by the script.
Rates are given per wall second and per CPU second of this process (one core;
the machine may be shared); ``fixes_per_s`` in the RESULT line is the wall-clock figure.

    .venv/bin/python bench/rules.py [--vehicles 10000] [--fixes 100] [--batch 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.crs import geometry_to_wgs84  # noqa: E402
from geo.fences import fence_from_feature  # noqa: E402
from geo.index import FenceIndex  # noqa: E402
from keywatch.process import tune_gc  # noqa: E402
from rules.engine import RuleContext, RuleEngine, VehicleInfo  # noqa: E402
from rules.params import RuleParams  # noqa: E402
from rules.types import VEHICLE_CLASSES, Fix, TachoEvent  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
KINDS = ["restricted"] * 8 + ["speed"] * 4 + ["site"] * 4 + ["watch"] * 3 + ["route"]


def make_zones(rng: np.random.Generator, n: int) -> list:
    fences = []
    for i in range(1, n + 1):
        kind = KINDS[i % len(KINDS)]
        lon, lat = rng.uniform(119.9, 120.7), rng.uniform(35.9, 36.5)
        props: dict = {"name": f"z{i}", "kind": kind}
        if kind == "route":
            geom = shapely.LineString([(lon, lat), (lon + rng.uniform(-0.05, 0.05),
                                                    lat + rng.uniform(-0.05, 0.05))])
            props["buffer_m"] = 100
        else:
            geom = shapely.Point(lon, lat).buffer(rng.uniform(0.001, 0.006), quad_segs=6)
        if kind == "restricted":
            props["classes"] = ["muck_truck", "hazmat"]
            props["schedule"] = [{"days": [1, 2, 3, 4, 5], "start": "07:00", "end": "21:00"}]
        if kind == "speed":
            props["speed_limit"] = {"coach": 100, "freight": 60, "school_bus": 40}
        fences.append(fence_from_feature({"type": "Feature", "geometry": mapping(geom),
                                          "properties": props}, id=i))
    return fences


def make_tracks(rng, vehicles: int, per: int):
    """Random walks: 10 s fixes, speeds 0-70 km/h with some stops and speeders."""
    lon0 = rng.uniform(119.95, 120.65, vehicles)
    lat0 = rng.uniform(35.95, 36.45, vehicles)
    speed = np.clip(rng.normal(35, 20, (vehicles, per)), 0, None)
    speed[rng.random(vehicles) < 0.3] *= 0.05  # parked vehicles
    heading = rng.uniform(0, 2 * np.pi, (vehicles, 1)) + np.cumsum(
        rng.normal(0, 0.2, (vehicles, per)), axis=1)
    step = speed / 3.6 * 10 / 111_000
    lon = lon0[:, None] + np.cumsum(step * np.sin(heading), axis=1)
    lat = lat0[:, None] + np.cumsum(step * np.cos(heading), axis=1)
    return lon, lat, speed


class Clock:
    """Wall and CPU seconds of one timed stage (the machine may be shared: the
    CPU time is what this process itself spent, on one core)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def build_fixes(index, lon, lat, speed, rng, chunk: int):
    vehicles, per = lon.shape
    flat_lon, flat_lat = lon.ravel(), lat.ravel()
    zones: list = []
    with Clock() as enrich_s:
        for s in range(0, flat_lon.size, chunk):
            zones += index.containing(flat_lon[s:s + chunk], flat_lat[s:s + chunk])
    start = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # 09:30 local
    times = [start + timedelta(seconds=10 * k) for k in range(per)]
    alarms = rng.random(lon.size) < 0.0005
    fixes = []
    for v in range(vehicles):
        base = v * per
        fixes.append([Fix(device_id=f"d{v}", ts=times[k], lat=float(lat[v, k]),
                          lon=float(lon[v, k]), speed=float(speed[v, k]), acc=8.0, ign=True,
                          alarms=("sos",) if alarms[base + k] else (), vehicle_id=v,
                          zones=zones[base + k]) for k in range(per)])
    return fixes, enrich_s, sum(1 for z in zones if z)


def run_engine(fixes, index, vehicles_info, batch: int, report,
               call_fixes: int = 5000) -> tuple[Clock, int]:
    """Every vehicle's track, ``batch`` fixes per vehicle at a time, through
    ``RuleEngine.process_many`` with about ``call_fixes`` fixes per call (the
    pipeline hands the engine one ingest batch at a time, all vehicles together)."""
    engine, params = RuleEngine(), RuleParams.load()
    states: list[dict] = [{} for _ in fixes]
    events = 0
    clock = Clock()
    per = len(fixes[0])
    # one context per vehicle, kept across batches (as the ingest pipeline does)
    contexts = [RuleContext(info, index, params, TZ) for info in vehicles_info]
    group = max(1, call_fixes // batch)
    for s in range(0, per, batch):
        with clock:
            for g in range(0, len(fixes), group):
                vehicles = range(g, min(g + group, len(fixes)))
                items = []
                for v in vehicles:
                    track = fixes[v]
                    tacho = []
                    if s == 0 and v % 50 == 0:
                        tacho = [TachoEvent(f"d{v}", track[0].ts, "body_lift")]
                    items.append((states[v], track[s:s + batch], tacho, contexts[v]))
                for v, (state, ev) in zip(vehicles, engine.process_many(items), strict=True):
                    states[v] = state
                    events += len(ev)
        report(f"  engine: {min(s + batch, per)}/{per} fixes per vehicle done")
    return clock, events


def postgis(url: str, fences, index, lon, lat, report) -> tuple[float, int]:
    """The same membership as one ``ST_Contains`` join, in a scratch database of
    its own (created here, dropped at the end: nothing else is touched)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    base = make_url(url).set(drivername="postgresql")
    scratch = f"keywatch_bench_rules_{os.getpid()}"
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        target = base.set(database=scratch).render_as_string(hide_password=False)
        with psycopg.connect(target, autocommit=True) as conn:
            return _contains_join(conn, fences, index, lon, lat, report)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(scratch)))


def _contains_join(conn, fences, index, lon, lat, report) -> tuple[float, int]:
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute("CREATE TABLE bz (id int, geom geometry(Geometry, 4326))")
    with conn.cursor().copy("COPY bz (id, geom) FROM STDIN") as copy:
        for f in fences:
            area = geometry_to_wgs84(index.area_metric(f.id), index.crs)
            copy.write_row((f.id, f"SRID=4326;{area.wkt}"))
    conn.execute("CREATE INDEX ON bz USING gist (geom)")
    conn.execute("CREATE TABLE bf (n int, geom geometry(Point, 4326))")
    report("  postgis: loading fixes ...")
    with conn.cursor().copy("COPY bf (n, geom) FROM STDIN") as copy:
        for n, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            copy.write_row((n, f"SRID=4326;POINT({x} {y})"))
    conn.execute("ANALYZE bz")
    conn.execute("ANALYZE bf")
    report("  postgis: ST_Contains join ...")
    t = time.perf_counter()
    (pairs,) = conn.execute("SELECT count(*) FROM bf JOIN bz ON ST_Contains(bz.geom, "
                            "bf.geom)").fetchone()
    return time.perf_counter() - t, pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicles", type=int, default=10_000)
    ap.add_argument("--fixes", type=int, default=100, help="fixes per vehicle")
    ap.add_argument("--zones", type=int, default=2_000)
    ap.add_argument("--batch", type=int, default=50, help="fixes per vehicle per engine call")
    ap.add_argument("--chunk", type=int, default=20_000, help="fixes per containing() call")
    ap.add_argument("--call-fixes", type=int, default=5_000,
                    help="fixes per RuleEngine.process_many call (an ingest batch)")
    args = ap.parse_args()

    def report(msg: str) -> None:
        print(msg, flush=True)

    rng = np.random.default_rng(42)
    report(f"building {args.zones} zones ...")
    fences = make_zones(rng, args.zones)
    t = time.perf_counter()
    index = FenceIndex(fences)
    report(f"  index built in {time.perf_counter() - t:.2f} s")
    lon, lat, speed = make_tracks(rng, args.vehicles, args.fixes)
    n = lon.size
    report(f"enriching {n} fixes (FenceIndex.containing, chunks of {args.chunk}) ...")
    fixes, enrich, in_zone = build_fixes(index, lon, lat, speed, rng, args.chunk)
    sites = index.by_kind.get("site", ())
    routes = index.by_kind.get("route", ())
    classes = [VEHICLE_CLASSES[v % len(VEHICLE_CLASSES)] for v in range(args.vehicles)]
    # Permits (an approved route and site) go to muck trucks, as in the city.
    info = [VehicleInfo(v, f"鲁B{v:05d}", cls,
                        granted=frozenset({sites[v % len(sites)], routes[v % len(routes)]})
                        if cls == "muck_truck" else frozenset())
            for v, cls in enumerate(classes)]
    tune_gc()  # as keywatch run does for its long-running parts
    report(f"running the rule pack, batches of {args.batch} fixes per vehicle ...")
    engine, events = run_engine(fixes, index, info, args.batch, report, args.call_fixes)
    url = os.environ.get("KEYWATCH_DATABASE_URL")
    pg = None
    if url:
        report("PostGIS baseline (scratch database) ...")
        pg = postgis(url, fences, index, lon.ravel(), lat.ravel(), report)
    else:
        report("KEYWATCH_DATABASE_URL not set: skipping the PostGIS ST_Contains baseline")
    _table(n, in_zone, enrich, engine, events, pg)


def _table(n: int, in_zone: int, enrich: Clock, engine: Clock, events: int,
           pg: tuple[float, int] | None) -> None:
    wall, cpu = enrich.wall + engine.wall, enrich.cpu + engine.cpu

    def rate(wall_s: float, cpu_s: float) -> str:
        return (f"{wall_s:6.2f} s wall {n / wall_s:>10,.0f} fixes/s   "
                f"{cpu_s:6.2f} s cpu {n / cpu_s:>10,.0f} fixes/s")

    rows = [("fixes", f"{n}"), ("fixes inside >= 1 zone", f"{in_zone}"),
            ("enrichment (containing)", rate(enrich.wall, enrich.cpu)),
            ("rule engine", rate(engine.wall, engine.cpu)),
            ("enrichment + engine", rate(wall, cpu)),
            ("rule events", f"{events}")]
    pg_rate = 0.0
    if pg:
        pg_rate = n / pg[0]
        rows.append(("PostGIS ST_Contains", f"{pg[0]:6.2f} s wall {pg_rate:>10,.0f} fixes/s "
                                            f"({pg[1]} pairs; membership only)"))
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    ratio = f"{(n / wall) / pg_rate:.2f}" if pg_rate else "nan"
    print(f"RESULT fixes_per_s={n / wall:.0f} cpu_fixes_per_s={n / cpu:.0f} "
          f"enrich_fixes_per_s={n / enrich.wall:.0f} engine_fixes_per_s={n / engine.wall:.0f} "
          f"postgis_fixes_per_s={pg_rate:.0f} ratio={ratio}")


if __name__ == "__main__":
    main()
