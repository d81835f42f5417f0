"""Enrichers annotate fixes (district, zones inside, flags); they never emit events."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import datetime

import numpy as np

from ingest.world import World
from rules.types import Fix

MAX_PLAUSIBLE_KMH = 250.0
POOR_ACCURACY_M = 50.0


def annotate(fixes: list[Fix], vehicle_ids: list[int], world: World) -> list[Fix]:
    """Vehicle, district and geofence membership for the whole batch, vectorised."""
    if not fixes:
        return fixes
    lon = np.fromiter((f.lon for f in fixes), dtype=float, count=len(fixes))
    lat = np.fromiter((f.lat for f in fixes), dtype=float, count=len(fixes))
    districts = world.router.district_at(lon, lat)
    zones = world.fences.containing(lon, lat)
    return [
        _annotated(fix, vehicle_id, district, tuple(zone_ids))
        for fix, vehicle_id, district, zone_ids in zip(fixes, vehicle_ids, districts, zones,
                                                        strict=True)
    ]


def _annotated(f: Fix, vehicle_id: int, district: str | None, zones: tuple[int, ...]) -> Fix:
    """``replace(f, vehicle_id=…, district=…, zones=…)`` at a tenth of its cost (every
    fix passes here); ``_FIX_FIELDS`` fails the import if ``Fix``'s fields change."""
    return Fix(f.device_id, f.ts, f.lat, f.lon, f.speed, f.heading, f.alt, f.acc, f.ign, f.seq,
               f.alarms, f.extras, vehicle_id, district, zones, f.flags)


_FIX_FIELDS = ("device_id", "ts", "lat", "lon", "speed", "heading", "alt", "acc", "ign", "seq",
               "alarms", "extras", "vehicle_id", "district", "zones", "flags")
if tuple(f.name for f in fields(Fix)) != _FIX_FIELDS:  # pragma: no cover - a schema change
    raise ImportError("rules.types.Fix changed its fields: update ingest.enrich._annotated")


def _km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Haversine distance; the jump check needs no more precision than this."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12742.0 * math.asin(min(1.0, math.sqrt(h)))


def flag_motion(fixes: list[Fix], last: tuple[datetime, float, float] | None) -> list[Fix]:
    """One vehicle's fixes in time order: flag impossible jumps, poor accuracy, late fixes.

    ``last`` is the vehicle's latest accepted (ts, lat, lon) before this batch. A
    jump is judged against the previous plausible fix, so one wild fix does not
    make the next good one look like a jump too.
    """
    out = []
    anchor = last
    latest = last[0] if last else None
    for fix in sorted(fixes, key=lambda f: f.ts):
        flags = set(fix.flags)
        if fix.acc is not None and fix.acc > POOR_ACCURACY_M:
            flags.add("poor_acc")
        if latest is not None and fix.ts < latest:
            flags.add("late")
        if anchor is not None and fix.ts > anchor[0]:
            hours = (fix.ts - anchor[0]).total_seconds() / 3600
            if _km(anchor[1], anchor[2], fix.lat, fix.lon) / hours > MAX_PLAUSIBLE_KMH:
                flags.add("jump")
        if "jump" not in flags and (anchor is None or fix.ts >= anchor[0]):
            anchor = (fix.ts, fix.lat, fix.lon)
        out.append(replace(fix, flags=frozenset(flags)) if flags != fix.flags else fix)
    return out
