"""Benchmark: the live map with 50,000 vehicles in headless chromium.

Creates a scratch database (``kw_bench_map_<pid>``) on the PostGIS server named by
``--database-url`` (default the private cluster, postgresql+psycopg://postgres@127.0.0.1:55432),
fills it with 50,000 vehicles and their latest positions, serves the real app with
uvicorn, and measures in Debian's chromium:

- ``first_render_ms``: navigation start → all vehicles drawn (snapshot fetched, parsed,
  drawn on the canvas);
- ``update_ms``: one round of 50,000 position updates applied through the same function
  the SSE ``positions`` handler calls, until the canvas has been redrawn;
- ``sse_round_ms`` (end to end): all 50,000 rows of ``vehicle_state`` updated + NOTIFY →
  the live hub's query → one SSE event → applied and drawn in the browser.

The scratch database is dropped at the end. Targets: 3000 / 500 ms.

    .venv/bin/python bench/map_load.py [--vehicles 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keywatch.db import make_sessionmaker, transaction  # noqa: E402
from keywatch.migrate import upgrade  # noqa: E402
from keywatch.settings import Settings  # noqa: E402
from registry.accounts import create_user  # noqa: E402
from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402

CLASSES = ["muck_truck", "school_bus", "hazmat", "coach", "freight", "rural_van",
           "low_speed_truck"]
PASSWORD = "bench-password-1"

FILL_SQL = [
    "INSERT INTO companies (code, name, kind, active) SELECT 'BENCH-' || g, '基准测试企业' || g,"
    " 'freight', true FROM generate_series(1, 50) g",
    "INSERT INTO vehicles (plate, vehicle_class, company_code, device_id, status)"
    " SELECT '鲁B' || lpad(g::text, 5, '0'), (CAST(:classes AS text[]))[1 + g % 7],"
    " 'BENCH-' || (1 + g % 50), 'bench-' || g, 'active' FROM generate_series(0, :n - 1) g",
    "INSERT INTO vehicle_state (vehicle_id, rules, last_ts, lat, lon, speed, heading, ign,"
    " fixes_total, seq_gaps, updated_at)"
    " SELECT id, '{}'::jsonb, now() - random() * interval '15 minutes',"
    " 35.95 + random() * 0.4, 120.0 + random() * 0.7, random() * 80, random() * 360, true,"
    " 1, 0, now() FROM vehicles",
]
MOVE_SQL = ("UPDATE vehicle_state SET lat = lat + (random() - 0.5) * 0.002,"
            " lon = lon + (random() - 0.5) * 0.002, speed = random() * 80,"
            " heading = random() * 360, last_ts = now(), updated_at = :batch")

FIRST_RENDER_JS = """(n) => new Promise((resolve, reject) => {
  const deadline = performance.now() + 60000;
  const check = () => {
    if (window.KW_MAP && KW_MAP.vehicles.length >= n && KW_MAP.state.firstRenderMs) {
      resolve(KW_MAP.state.firstRenderMs);
    } else if (performance.now() > deadline) {
      reject(new Error("the map did not show " + n + " vehicles within 60 s"));
    } else { setTimeout(check, 20); }
  };
  check();
})"""

UPDATE_JS = """async () => {
  const list = KW_MAP.vehicles.map((v) => ({plate: v.plate, class: v.cls, company: v.company,
    lat: v.lat + (Math.random() - 0.5) * 0.002, lon: v.lon + (Math.random() - 0.5) * 0.002,
    speed: Math.random() * 80, heading: Math.random() * 360, ign: true,
    ts: new Date().toISOString(), district: v.district}));
  const t0 = performance.now();
  KW_MAP.applyPositions(list);
  const drawMs = await KW_MAP.whenDrawn();
  return {total: performance.now() - t0, apply: KW_MAP.state.lastApplyMs, draw: drawMs};
}"""

SSE_ARM_JS = """() => { window.__kwT = null; const t0 = performance.now();
  const es = KW_MAP.source;
  const on = (e) => { const n = JSON.parse(e.data).length;
    if (n >= 1000) { es.removeEventListener('positions', on);
      KW_MAP.whenDrawn().then(() => { window.__kwT = performance.now(); }); } };
  es.addEventListener('positions', on); return t0; }"""


def scratch_database(base_url: str) -> tuple[str, object]:
    base = make_url(base_url)
    name = f"kw_bench_map_{os.getpid()}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return base.set(database=name).render_as_string(hide_password=False), admin


def fill(url: str, n: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    upgrade(engine)
    with engine.begin() as conn:
        for sql in FILL_SQL:
            conn.execute(text(sql), {"classes": CLASSES, "n": n})
    with transaction(make_sessionmaker(engine)) as session:
        create_user(session, username="bench", password=PASSWORD, role="admin")
    engine.dispose()


def measure(server_url: str, db_url: str, n: int, rounds: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    engine = create_engine(db_url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768},
                                      base_url=server_url)
        page = context.new_page()
        token = page.request.post("/api/v1/auth/token",
                                  form={"username": "bench", "password": PASSWORD})
        assert token.ok, token.text()
        first = []
        for i in range(rounds):
            page.goto("/")
            first.append(page.evaluate(FIRST_RENDER_JS, n))
            print(f"  first render {i + 1}/{rounds}: {first[-1]:.0f} ms", flush=True)
        page.wait_for_selector("#kw-conn.ok", timeout=15000)
        updates = []
        for i in range(rounds):
            result = page.evaluate(UPDATE_JS)
            updates.append(result["total"])
            print(f"  update round {i + 1}/{rounds}: {result['total']:.0f} ms "
                  f"(apply {result['apply']:.0f}, draw {result['draw']:.0f})", flush=True)
        t0 = page.evaluate(SSE_ARM_JS)
        batch = datetime.now(UTC)  # as an ingest batch: its rows' time, in its NOTIFY
        with engine.begin() as conn:
            conn.execute(text(MOVE_SQL), {"batch": batch})
            conn.execute(text("SELECT pg_notify('keywatch_positions', :p)"),
                         {"p": batch.isoformat()})
        page.wait_for_function("window.__kwT !== null", timeout=30000)
        sse = page.evaluate("window.__kwT") - t0
        print(f"  SSE round (DB update of {n} rows → drawn): {sse:.0f} ms", flush=True)
        browser.close()
    engine.dispose()
    return {"first_render_ms": statistics.median(first), "update_ms": statistics.median(updates),
            "sse_round_ms": sse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get(
        "KEYWATCH_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"))
    args = parser.parse_args()
    url, admin = scratch_database(args.database_url)
    name = make_url(url).database
    try:
        print(f"filling scratch database {name} with {args.vehicles} vehicles…", flush=True)
        t = time.monotonic()
        fill(url, args.vehicles)
        print(f"  done in {time.monotonic() - t:.1f} s", flush=True)
        settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                            secret_key="bench-" + name)
        with LiveServer(settings) as server:
            result = measure(server.url, url, args.vehicles, args.rounds)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print()
    print(f"{'measure':<34}{'ms':>8}{'target':>8}")
    print(f"{'first render (' + str(args.vehicles) + ' vehicles)':<34}"
          f"{result['first_render_ms']:>8.0f}{3000:>8}")
    print(f"{'one round of updates (JS path)':<34}{result['update_ms']:>8.0f}{500:>8}")
    print(f"{'SSE round, DB → drawn':<34}{result['sse_round_ms']:>8.0f}{'-':>8}")
    print(f"RESULT vehicles={args.vehicles} first_render_ms={result['first_render_ms']:.0f} "
          f"update_ms={result['update_ms']:.0f} sse_round_ms={result['sse_round_ms']:.0f}")


if __name__ == "__main__":
    main()
