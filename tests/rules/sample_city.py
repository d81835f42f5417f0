"""The sample city (``sample_tracks/``) replayed through the real pipeline pieces,
in pure Python: fences, districts and permits as the loader reads them, fixes
enriched as ``ingest`` does (districts, zones, motion flags), then the engine
in batches with its state round-tripped through JSON, and the clock ticking
over every silence as the dispatcher's would.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from shapely.geometry import shape

from geo.districts import DistrictIndex
from geo.fences import fence_from_feature
from geo.index import FenceIndex
from ingest.enrich import flag_motion
from rules.engine import RuleContext, RuleEngine, VehicleInfo
from rules.params import RuleParams
from rules.types import Fix, RuleEvent, TachoEvent

ROOT = Path(__file__).resolve().parents[2] / "sample_tracks"
TZ = ZoneInfo("Asia/Shanghai")
TICK_S = 60.0  # how often the dispatcher's clock runs the engine's tick
TAIL_S = 1800.0  # the last tick: 30 min after the last row of a file


@dataclass(frozen=True)
class City:
    index: FenceIndex
    districts: DistrictIndex
    vehicles: dict[str, VehicleInfo]  # by device id
    params: RuleParams

    def context(self, device_id: str) -> RuleContext:
        return RuleContext(self.vehicles[device_id], self.index, self.params, TZ)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@lru_cache(maxsize=1)
def city() -> City:
    features = json.loads((ROOT / "geofences.geojson").read_text(encoding="utf-8"))["features"]
    fences = [fence_from_feature(f, id=i) for i, f in enumerate(features, 1)]
    by_ref = {f.ref: f.id for f in fences}
    vehicles = {}
    for n, row in enumerate(_read_csv(ROOT / "vehicles.csv"), 1):
        refs = [r for r in (*row["routes"].split(";"), *row["sites"].split(";")) if r]
        vehicles[row["device_id"]] = VehicleInfo(
            vehicle_id=n, plate=row["plate"], vehicle_class=row["vehicle_class"],
            company=row["company"], home_district=row["home_district"],
            granted=frozenset(by_ref[r] for r in refs))
    districts = json.loads((ROOT / "districts.geojson").read_text(encoding="utf-8"))
    index = DistrictIndex([(d["properties"]["code"], shape(d["geometry"]))
                           for d in districts["features"]])
    return City(FenceIndex(fences), index, vehicles, RuleParams.load())


def manifest() -> list[dict]:
    return json.loads((ROOT / "tracks" / "manifest.json").read_text(encoding="utf-8"))


def _float(text: str) -> float | None:
    return float(text) if text else None


def read_track(name: str, start: datetime) -> dict[str, list[Fix | TachoEvent]]:
    """Each device's rows as raw (unenriched) fixes and tacho events, in file order."""
    c = city()
    out: dict[str, list[Fix | TachoEvent]] = defaultdict(list)
    for r in _read_csv(ROOT / "tracks" / name):
        ts = start + timedelta(seconds=int(r["t"]))
        vid = c.vehicles[r["device_id"]].vehicle_id
        lat, lon = float(r["lat"]), float(r["lon"])
        if r["kind"] == "pos":
            item: Fix | TachoEvent = Fix(
                device_id=r["device_id"], ts=ts, lat=lat, lon=lon, speed=_float(r["speed"]),
                heading=_float(r["heading"]), acc=_float(r["acc"]),
                ign=None if not r["ign"] else r["ign"] == "1",
                alarms=tuple(a for a in r["alarms"].split(";") if a), vehicle_id=vid)
        else:
            item = TachoEvent(device_id=r["device_id"], ts=ts, event=r["event"],
                              driver=r["driver"] or None, lat=lat, lon=lon,
                              speed=_float(r["speed"]), vehicle_id=vid)
        out[r["device_id"]].append(item)
    return out


def enrich(fixes: list[Fix], last: tuple | None) -> list[Fix]:
    """``ingest.enrich.annotate`` (district, zones) then ``flag_motion``."""
    if not fixes:
        return fixes
    c = city()
    lon = np.array([f.lon for f in fixes])
    lat = np.array([f.lat for f in fixes])
    zones = c.index.containing(lon, lat)
    districts = c.districts.lookup(lon, lat)
    annotated = [replace(f, district=d, zones=tuple(z))
                 for f, d, z in zip(fixes, districts, zones, strict=True)]
    return flag_motion(annotated, last)


def _last_plausible(fixes: list[Fix], last: tuple | None) -> tuple | None:
    """What ingest checkpoints: the newest fix that is not a jump."""
    for f in sorted(fixes, key=lambda f: f.ts, reverse=True):
        if "jump" not in f.flags and (last is None or f.ts >= last[0]):
            return (f.ts, f.lat, f.lon)
    return last


def replay(device_id: str, rows: list[Fix | TachoEvent], batch: int | None,
           engine: RuleEngine | None = None) -> list[RuleEvent]:
    """All events for one device, ``batch`` rows per engine call (None: all)."""
    engine = engine or RuleEngine()
    ctx = city().context(device_id)
    size = batch or len(rows)
    state: dict = {}
    last: tuple | None = None
    clock: datetime | None = None  # the newest time the engine has seen
    events: list[RuleEvent] = []
    for s in range(0, len(rows), size):
        chunk = rows[s:s + size]
        if clock is not None:
            state = _ticks(engine, state, ctx, clock, chunk[0].ts, events)
        fixes = enrich([r for r in chunk if isinstance(r, Fix)], last)
        tacho = [r for r in chunk if isinstance(r, TachoEvent)]
        last = _last_plausible(fixes, last)
        state, ev = engine.process(json.loads(json.dumps(state)), fixes, tacho, ctx)
        events += ev
        clock = max(r.ts for r in chunk) if clock is None else max(clock, *(r.ts for r in chunk))
    if clock is not None:
        _ticks(engine, state, ctx, clock, clock + timedelta(seconds=TAIL_S + 1), events)
    return events


def _ticks(engine: RuleEngine, state: dict, ctx: RuleContext, since: datetime,
           until: datetime, events: list[RuleEvent]) -> dict:
    """Tick every ``TICK_S`` strictly between ``since`` and ``until``."""
    now = since + timedelta(seconds=TICK_S)
    while now < until:
        state, ev = engine.tick(json.loads(json.dumps(state)), now, ctx)
        events += ev
        now += timedelta(seconds=TICK_S)
    return state


def incidents(events: list[RuleEvent]) -> dict[str, int]:
    """Incidents per rule code: every ``open`` and every ``instant``."""
    counts = Counter(e.rule for e in events if e.action in ("open", "instant"))
    return dict(counts)
