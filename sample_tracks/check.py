"""Consistency checks for the sample city; exits 1 and lists problems on failure.

    .venv/bin/python sample_tracks/check.py [-v]

Independent of build.py and of the registry package: it recomputes every
check digit, validates the geometry and references, and re-derives each
scenario's incidents with a small reference evaluator of the contract §5
rules (defaults) to confirm the counts declared in tracks/manifest.json.
``problems()`` returns the list, for use from a test.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape

HERE = Path(__file__).resolve().parent
LOCAL = "+proj=tmerc +lat_0=36 +lon_0=120.3 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
FWD = Transformer.from_crs("EPSG:4326", LOCAL, always_xy=True)
CLASSES = {"muck_truck", "school_bus", "hazmat", "coach", "freight", "rural_van",
           "low_speed_truck"}
LIMITS = {"school_bus": 60, "hazmat": 60, "muck_truck": 40, "coach": 80, "freight": 80,
          "rural_van": 60, "low_speed_truck": 70}
TACHO = {"driver_login", "driver_logout", "accident_suspect", "body_lift", "body_lower",
         "cover_open", "cover_close", "power_on", "power_off", "overload"}
ALARMS = {"sos", "overspeed", "fatigue", "collision", "rollover", "power_cut"}
RULES = ["speeding", "forbidden_zone", "route_deviation", "fatigue_driving",
         "daily_driving_limit", "night_driving", "illegal_stop", "illegal_unloading",
         "cover_open_moving", "signal_lost", "accident_suspect", "terminal_alarm",
         "geofence_enter", "geofence_exit"]
DISTRICT_CODES = {"370202", "370203", "370211", "370212", "370213", "370214", "370215",
                  "370281", "370283", "370285"}
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
VIN_T = dict(zip("0123456789ABCDEFGHJKLMNPRSTUVWXYZ",
                 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9,
                  2, 3, 4, 5, 6, 7, 8, 9], strict=True))
VIN_W = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
PLATE = re.compile(r"^鲁B([A-HJ-NP-Z0-9]{5}|D\d{5}|\d{5}D|\d{4}挂)$")


def uscc_ok(s: str) -> bool:
    if len(s) != 18 or any(c not in USCC_CHARS for c in s):
        return False
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(s[:17], USCC_W, strict=True))
    return s[17] == USCC_CHARS[(31 - total % 31) % 31]


def id_ok(s: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", s) or not s.startswith("3702"):
        return False
    try:
        datetime.strptime(s[6:14], "%Y%m%d")
    except ValueError:
        return False
    return s[17] == "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], ID_W, strict=True)) % 11]


def vin_ok(s: str) -> bool:
    if not re.fullmatch(r"[0-9A-HJ-NPR-Z]{17}", s):
        return False
    r = sum(VIN_T[c] * w for c, w in zip(s, VIN_W, strict=True)) % 11
    return s[8] == ("X" if r == 10 else str(r))


def read_csv(name: str) -> list[dict[str, str]]:
    with (HERE / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def metric(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: __import__("numpy").column_stack(
        FWD.transform(c[:, 0], c[:, 1])))


class Checker:
    def __init__(self, verbose: bool = False) -> None:
        self.errors: list[str] = []
        self.verbose = verbose

    def err(self, msg: str) -> None:
        self.errors.append(msg)

    # -- static data ---------------------------------------------------------
    def districts(self) -> None:
        fc = json.loads((HERE / "districts.geojson").read_text(encoding="utf-8"))
        self.dist = {}
        for f in fc["features"]:
            code, g = f["properties"]["code"], shape(f["geometry"])
            self.dist[code] = g
            n = len(g.exterior.coords) - 1 if g.geom_type == "Polygon" else -1
            if not g.is_valid or g.geom_type != "Polygon" or not 10 <= n <= 40:
                self.err(f"district {code}: valid={g.is_valid} type={g.geom_type} vertices={n}")
        if set(self.dist) != DISTRICT_CODES:
            self.err(f"district codes {sorted(self.dist)}")
        for (a, ga), (b, gb) in itertools.combinations(self.dist.items(), 2):
            area = ga.intersection(gb).area * 111_000 * 90_000   # deg² -> m² near 36°N
            if area > 1:   # m²
                self.err(f"districts {a} and {b} overlap by {area:.0f} m²")
        for lon, lat in ((120.25, 36.15), (120.15, 36.20), (120.30, 36.20), (120.27, 36.04)):
            if any(g.contains(Point(lon, lat)) for g in self.dist.values()):
                self.err(f"Jiaozhou Bay point {lon},{lat} is inside a district")
        self.dist_tree = shapely.STRtree(list(self.dist.values()))
        self.dist_codes = list(self.dist)

    def district_of(self, lon: float, lat: float) -> str | None:
        hits = self.dist_tree.query(Point(lon, lat), predicate="intersects")
        return self.dist_codes[hits[0]] if len(hits) else None

    def geofences(self) -> None:
        fc = json.loads((HERE / "geofences.geojson").read_text(encoding="utf-8"))
        self.fences: dict[str, dict[str, Any]] = {}
        for f in fc["features"]:
            p = f["properties"]
            ref = p.get("ref", "")
            if not ref or ref in self.fences:
                self.err(f"geofence ref missing or duplicate: {ref!r}")
            g = shape(f["geometry"])
            kind = p.get("kind")
            where = f"geofence {ref}"
            if not p.get("name") or kind not in {"restricted", "speed", "route", "site", "watch"}:
                self.err(f"{where}: name/kind {p.get('name')!r} {kind!r}")
            if kind == "route":
                if g.geom_type != "LineString" or not 100 <= p.get("buffer_m", 0) <= 200:
                    self.err(f"{where}: route needs a LineString and buffer_m 100-200")
                elif not g.difference(self.land()).is_empty:
                    self.err(f"{where}: route leaves the land")
            elif g.geom_type != "Polygon" or not g.is_valid:
                self.err(f"{where}: needs a valid Polygon, got {g.geom_type} {g.is_valid}")
            if not set(p.get("classes", [])) <= CLASSES:
                self.err(f"{where}: classes {p.get('classes')}")
            if kind == "speed":
                lim = p.get("speed_limit")
                ok = isinstance(lim, (int, float)) and lim > 0 or isinstance(lim, dict) and all(
                    k in CLASSES and v > 0 for k, v in lim.items())
                if not ok:
                    self.err(f"{where}: speed_limit {lim!r}")
            for s in p.get("schedule", []):
                if not (set(s["days"]) <= set(range(1, 8))
                        and re.fullmatch(r"\d\d:\d\d", s["start"])
                        and re.fullmatch(r"\d\d:\d\d", s["end"])):
                    self.err(f"{where}: schedule {s}")
            self.fences[ref] = {**p, "geom": g, "m": metric(g)}

    def land(self) -> Any:
        if not hasattr(self, "_land"):
            self._land = shapely.union_all(list(self.dist.values())).buffer(1e-5)
        return self._land

    def registry(self) -> None:
        self.companies = {r["code"]: r for r in read_csv("companies.csv")}
        kinds = {r["kind"] for r in self.companies.values()}
        if kinds != {"muck_transport", "school", "hazardous_goods", "coach_operator", "freight",
                     "rural_transport"}:
            self.err(f"company kinds {kinds}")
        for c in self.companies.values():
            if not uscc_ok(c["licence_no"]):
                self.err(f"company {c['code']}: bad licence_no {c['licence_no']}")
            if not re.fullmatch(r"1[3-9]\d{9}", c["sms"]) or "@" not in c["email"]:
                self.err(f"company {c['code']}: sms/email")
        self.officers = {r["badge"]: r for r in read_csv("officers.csv")}
        for code in DISTRICT_CODES:
            roles = {o["role"] for o in self.officers.values()
                     if code in o["districts"].split(";")}
            if not {"officer", "supervisor"} <= roles:
                self.err(f"district {code}: officer roles {roles}")
        for o in self.officers.values():
            if not set(o["districts"].split(";")) <= DISTRICT_CODES:
                self.err(f"officer {o['badge']}: districts {o['districts']}")
        self.drivers = {r["licence_no"]: r for r in read_csv("drivers.csv")}
        if len(self.drivers) != len(read_csv("drivers.csv")):
            self.err("duplicate driver licence numbers")
        for d in self.drivers.values():
            if not id_ok(d["licence_no"]):
                self.err(f"driver {d['licence_no']}: bad resident id")
            if d["company"] not in self.companies:
                self.err(f"driver {d['licence_no']}: company {d['company']}")
            for q in d["qualifications"].split(";"):
                m = re.fullmatch(r"(hazmat|school_bus|coach|muck|freight)_driver:"
                                 r"(\d{4}-\d\d-\d\d)", q)
                if not m or not date.fromisoformat(m.group(2)):
                    self.err(f"driver {d['licence_no']}: qualification {q}")
        self.vehicles = {}
        plates = set()
        for v in read_csv("vehicles.csv"):
            where = f"vehicle {v['plate']}"
            if v["device_id"] in self.vehicles or v["plate"] in plates:
                self.err(f"{where}: duplicate plate or device")
            plates.add(v["plate"])
            self.vehicles[v["device_id"]] = v
            if not PLATE.match(v["plate"]) or not vin_ok(v["vin"]):
                self.err(f"{where}: plate/vin {v['vin']}")
            if v["vehicle_class"] not in CLASSES or v["company"] not in self.companies:
                self.err(f"{where}: class/company")
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", v["device_id"]):
                self.err(f"{where}: device_id")
            officer = self.officers.get(v["officer"])
            if v["home_district"] not in DISTRICT_CODES or not officer or \
                    v["home_district"] not in officer["districts"].split(";"):
                self.err(f"{where}: home_district/officer")
            for ref, kind in [(r, "route") for r in v["routes"].split(";") if r] + \
                             [(s, "site") for s in v["sites"].split(";") if s]:
                f = self.fences.get(ref)
                if not f or f["kind"] != kind or \
                        v["vehicle_class"] not in f.get("classes", [v["vehicle_class"]]):
                    self.err(f"{where}: {kind} {ref}")
            if v["vehicle_class"] == "muck_truck" and not (v["routes"] and v["sites"]):
                self.err(f"{where}: muck truck without routes/sites")
            if not v["permit_until"].startswith("2027-") or v["driver"] not in self.drivers:
                self.err(f"{where}: permit_until/driver")

    # -- tracks --------------------------------------------------------------
    def tracks(self) -> None:
        manifest = json.loads((HERE / "tracks" / "manifest.json").read_text(encoding="utf-8"))
        seen: dict[str, set[str]] = defaultdict(set)
        owner: dict[str, str] = {}
        done = set()
        for m in manifest:
            seen[m["rule"]].add(m["expect"])
            datetime.fromisoformat(m["start"])
            if m["file"] in done:
                continue
            done.add(m["file"])
            rows = self.read_track(m["file"])
            for dev in {r["device_id"] for r in rows}:
                if dev in owner:
                    self.err(f"{m['file']}: device {dev} also used in {owner[dev]}")
                owner[dev] = m["file"]
            if m["rule"] != "demo":
                found = self.evaluate(m["file"], rows, datetime.fromisoformat(m["start"]))
                for rule, n in m["incidents"].items():
                    if found.get(rule, 0) != n:
                        self.err(f"{m['file']}: {rule} expected {n}, evaluator finds "
                                 f"{found.get(rule, 0)}")
                extra = {k: v for k, v in found.items() if v and k not in m["incidents"]}
                if extra:
                    self.err(f"{m['file']}: unexpected incidents {extra}")
            elif self.verbose:
                found = self.evaluate(m["file"], rows, datetime.fromisoformat(m["start"]))
                print("demo incidents:", dict(found))
        for rule in RULES:
            if seen[rule] != {"fires", "near_miss"}:
                self.err(f"manifest: rule {rule} has {seen[rule] or 'nothing'}")

    def read_track(self, name: str) -> list[dict[str, Any]]:
        rows = read_csv(f"tracks/{name}")
        last: dict[str, int] = {}
        pos_at: set[tuple[str, int]] = set()
        out = []
        for i, r in enumerate(rows, 2):
            where = f"{name}:{i}"
            v = self.vehicles.get(r["device_id"])
            if not v:
                self.err(f"{where}: unknown device {r['device_id']}")
                continue
            t = int(r["t"])
            if t < last.get(r["device_id"], -1):
                self.err(f"{where}: time goes backwards")
            if r["kind"] == "pos" and (r["device_id"], t) in pos_at:
                # Ingest keys fixes by (device, ts, seq): a second one at t is a duplicate.
                self.err(f"{where}: a second position at t={t}")
            pos_at.add((r["device_id"], t))
            last[r["device_id"]] = t
            lon, lat = float(r["lon"]), float(r["lat"])
            if r["kind"] == "pos":
                if not self.district_of(lon, lat):
                    self.err(f"{where}: position {lon},{lat} outside every district")
                if r["alarms"] and not set(r["alarms"].split(";")) <= ALARMS:
                    self.err(f"{where}: alarms {r['alarms']}")
            elif r["kind"] == "tacho":
                if r["event"] not in TACHO or (r["driver"] and r["driver"] not in self.drivers):
                    self.err(f"{where}: event/driver {r['event']} {r['driver']}")
            else:
                self.err(f"{where}: kind {r['kind']}")
            x, y = FWD.transform(lon, lat)
            out.append({**r, "t": t, "lon": lon, "lat": lat, "x": x, "y": y,
                        "speed": float(r["speed"] or 0), "v": v})
        return out

    # -- reference evaluator -------------------------------------------------
    def evaluate(self, name: str, rows: list[dict[str, Any]], start: datetime
                 ) -> dict[str, int]:
        from evaluator import evaluate_device  # small, separate module
        counts: dict[str, int] = defaultdict(int)
        by_dev: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            by_dev[r["device_id"]].append(r)
        for dev, rs in by_dev.items():
            found, notes = evaluate_device(rs, self.fences, start)
            for k, n in found.items():
                counts[k] += n
            for n in notes:
                self.err(f"{name} {dev}: {n}")
        return counts


def problems(verbose: bool = False) -> list[str]:
    sys.path.insert(0, str(HERE))
    c = Checker(verbose)
    c.districts()
    c.geofences()
    c.registry()
    c.tracks()
    return c.errors


if __name__ == "__main__":
    errs = problems("-v" in sys.argv)
    for e in errs:
        print("FAIL", e)
    print(f"{len(errs)} problem(s)")
    sys.exit(1 if errs else 0)

__all__ = ["problems", "timedelta"]
