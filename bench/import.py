"""Benchmark: bulk import of 40,000 vehicles (CSV, GBK) into a scratch PostGIS database.

Creates a scratch database on the given server, migrates it, seeds companies,
districts, officers and approved routes/sites, writes a 40,000-row vehicle
file, and times ``registry.importer.import_file`` end to end (decode, validate
every row, cross-check against the database, upsert in bulk, commit), then a
re-import of the same file (all updates). Drops the scratch database at the end.

    .venv/bin/python bench/import.py [--vehicles 40000] [--format csv|xlsx]
        [--url postgresql+psycopg://postgres@127.0.0.1:55433/postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keywatch.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from keywatch.migrate import upgrade  # noqa: E402
from registry.headers import template_headers  # noqa: E402
from registry.importer import ImportOutcome, import_file  # noqa: E402
from registry.progress import ProgressBar  # noqa: E402
from registry.validation import PROVINCE_ABBREVIATIONS, make_uscc, make_vin  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:55433/postgres"
COMPANIES, DISTRICTS, OFFICERS = 200, 10, 40
CLASSES = ["渣土车", "校车", "危险货物运输车", "客运车辆", "货运车辆", "农村面包车", "低速载货汽车"]
SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def seed(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    upgrade(engine)
    square = "ST_Multi(ST_MakeEnvelope({x0}, 36.0, {x1}, 36.1, 4326))"
    with engine.begin() as conn:
        for i in range(OFFICERS):
            conn.execute(text("INSERT INTO officers (badge, name, role, active) "
                              "VALUES (:b, :n, 'officer', true)"),
                         {"b": f"P{370200000 + i}", "n": f"警官{i}"})
        for i in range(DISTRICTS):
            geom = square.format(x0=120.0 + i * 0.1, x1=120.1 + i * 0.1)
            conn.execute(text(f"INSERT INTO districts (code, name, geom, officer_badge) "
                              f"VALUES (:c, :n, {geom}, :o)"),
                         {"c": f"3702{i + 10:02d}", "n": f"区{i}", "o": f"P{370200000 + i}"})
        for i in range(COMPANIES):
            conn.execute(text("INSERT INTO companies (code, name, kind, licence_no, active) "
                              "VALUES (:c, :n, 'muck_transport', :l, true)"),
                         {"c": f"QD-CO-{i:03d}", "n": f"运输公司{i}",
                          "l": make_uscc(f"9137020000000{i:04d}")})
        for kind, geom in (("route", "ST_MakeLine(ST_MakePoint(120.1, 36.0), "
                                     "ST_MakePoint(120.3, 36.05))"),
                           ("site", "ST_MakeEnvelope(120.2, 36.0, 120.21, 36.01, 4326)")):
            for i in range(20):
                conn.execute(text(
                    f"INSERT INTO geofences (ref, name, kind, classes, plates, buffer_m, geom) "
                    f"VALUES (:r, :n, :k, '{{}}', '{{}}', 50, ST_SetSRID({geom}, 4326))"),
                    {"r": f"{kind}-{i:02d}", "n": f"{kind} {i}", "k": kind})
    engine.dispose()


def vehicle_rows(n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        province = PROVINCE_ABBREVIATIONS[i % 31]
        serial = "".join(SERIAL[(i // 34 ** k) % 34] for k in range(5))
        rows.append([
            f"{province}B{serial}", make_vin(f"LZZ1CLVB7H{i:06d}"), CLASSES[i % 7],
            f"QD-CO-{i % COMPANIES:03d}", f"dev-{i:06d}", f"3702{i % DISTRICTS + 10:02d}",
            f"P{370200000 + i % OFFICERS}", f"route-{i % 20:02d}", f"site-{i % 20:02d}",
            "2027-12-31", "正常",
        ])
    return rows


def vehicle_file(n: int, fmt: str) -> bytes:
    header = template_headers("vehicles")
    rows = vehicle_rows(n)
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def timed_import(url: str, data: bytes, title: str) -> tuple[float, ImportOutcome]:
    factory = make_sessionmaker(make_engine(url))
    bar = ProgressBar(title)
    started = time.perf_counter()
    with transaction(factory) as session:
        outcome = import_file(session, "vehicles", data, filename="vehicles",
                              max_bytes=len(data) + 1, now=datetime.now(UTC),
                              progress=bar.update)
    elapsed = time.perf_counter() - started
    bar.close()
    if outcome.errors:
        raise SystemExit(f"unexpected row errors, e.g. {outcome.errors[:3]}")
    return elapsed, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=40_000)
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    parser.add_argument("--url", default=os.environ.get("KEYWATCH_BENCH_URL", DEFAULT_URL),
                        help="server to create the scratch database on")
    args = parser.parse_args()
    base = make_url(args.url)
    name = f"kw_bench_import_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        print(f"scratch database {name}: migrating and seeding …", file=sys.stderr)
        seed(url)
        data = vehicle_file(args.vehicles, args.format)
        print(f"{args.vehicles} vehicles, {args.format}, {len(data) / 1e6:.1f} MB",
              file=sys.stderr)
        first, outcome = timed_import(url, data, "import")
        again, second = timed_import(url, data, "re-import")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"\n{'run':<12}{'rows':>8}{'created':>9}{'updated':>9}{'seconds':>9}{'rows/s':>9}")
    for label, secs, res in (("import", first, outcome), ("re-import", again, second)):
        print(f"{label:<12}{args.vehicles:>8}{res.created:>9}{res.updated:>9}"
              f"{secs:>9.2f}{args.vehicles / secs:>9.0f}")
    print(f"RESULT vehicles={args.vehicles} seconds={first:.2f} reimport_seconds={again:.2f}")


if __name__ == "__main__":
    main()
