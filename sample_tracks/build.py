"""Regenerate the sample city in sample_tracks/ (deterministic: fixed seeds).

    .venv/bin/python sample_tracks/build.py && .venv/bin/python sample_tracks/check.py

The generated files are committed; edit them by hand or change this script
(and geography.py, fences.py, fleet.py, scenarios.py, demo.py) and rebuild.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path
from typing import Any

from shapely.geometry import mapping

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import demo  # noqa: E402
import fences  # noqa: E402
import fleet  # noqa: E402
import geography  # noqa: E402
import scenarios  # noqa: E402
from tracklib import COLUMNS  # noqa: E402

SEED = 20261126


def write_collection(path: Path, features: list[dict[str, Any]]) -> None:
    """A FeatureCollection with one feature per line (readable diffs)."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    path.write_text('{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n",
                    encoding="utf-8")


def write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def vehicle_rows(vehicles: list[fleet.Vehicle]) -> list[dict[str, str]]:
    return [{
        "plate": v.plate, "vin": v.vin, "vehicle_class": v.vehicle_class, "company": v.company,
        "device_id": v.device_id, "home_district": v.home_district, "officer": v.officer,
        "routes": ";".join(v.routes), "sites": ";".join(v.sites),
        "permit_until": v.permit_until, "driver": v.driver,
    } for v in vehicles]


def track_rows(trips: list) -> list[dict[str, Any]]:
    rows = [r for trip in trips for r in trip.rows]
    rows.sort(key=lambda r: (r["t"], r["device_id"]))
    return rows


def main() -> None:
    districts = [
        {"type": "Feature", "properties": {"code": code, "name": name},
         "geometry": mapping(geom)}
        for code, name, geom in geography.districts()
    ]
    write_collection(HERE / "districts.geojson", districts)
    write_collection(HERE / "geofences.geojson", fences.geofences())

    data = fleet.build(random.Random(SEED))
    write_csv(HERE / "companies.csv", ["code", "name", "kind", "licence_no", "contact", "phone",
                                       "webhook_url", "email", "sms"], data["companies"])
    write_csv(HERE / "officers.csv", ["badge", "name", "phone", "email", "role", "districts"],
              data["officers"])
    write_csv(HERE / "drivers.csv", ["licence_no", "name", "phone", "company", "qualifications"],
              data["drivers"])
    write_csv(HERE / "vehicles.csv", ["plate", "vin", "vehicle_class", "company", "device_id",
                                      "home_district", "officer", "routes", "sites",
                                      "permit_until", "driver"], vehicle_rows(data["vehicles"]))

    tracks = HERE / "tracks"
    tracks.mkdir(exist_ok=True)
    for old in tracks.glob("*.csv"):
        old.unlink()
    pool = scenarios.Pool(data["vehicles"])
    manifest = []
    for sc in scenarios.build(pool, SEED + 1):
        write_csv(tracks / sc.file, COLUMNS, track_rows(sc.trips))
        devices = sorted({t.device_id for t in sc.trips})
        for rule, expect in [(sc.rule, sc.expect), *sc.extra_rules]:
            manifest.append({"file": sc.file, "rule": rule, "expect": expect, "start": sc.start,
                             "note": sc.note, "devices": devices, "incidents": sc.incidents})
    demo_trips = demo.build(pool, SEED + 2)
    write_csv(tracks / "demo.csv", COLUMNS, track_rows(demo_trips))
    manifest.append({"file": "demo.csv", "rule": "demo", "expect": "fires",
                     "start": "2026-11-26T09:00:00+08:00", "note": demo.DEMO_NOTE,
                     "devices": sorted({t.device_id for t in demo_trips})})
    (tracks / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"districts {len(districts)}, geofences {len(fences.geofences())}, "
          f"companies {len(data['companies'])}, officers {len(data['officers'])}, "
          f"drivers {len(data['drivers'])}, vehicles {len(data['vehicles'])}, "
          f"scenario files {len({m['file'] for m in manifest})}, "
          f"demo vehicles {len(demo_trips)}")


if __name__ == "__main__":
    main()
