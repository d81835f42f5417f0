"""speeding: above the class or speed-zone limit for >= 30 s.

A ``speed`` zone the vehicle is (confirmed) inside replaces the class limit
(an expressway may allow more); inside several, the lowest wins. At night
(22:00-06:00 local) a class's night factor applies (coach 0.8). Severity is
by the episode's worst excess and upgrades with an ``update`` event; a new
maximum speed is reported only every ``update_step_kmh`` to keep volume low.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geo.schedule import parse_hhmm
from rules.base import SEVERITY_RANK, Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "speeding"


@dataclass(frozen=True, slots=True)
class Params:
    limits: dict[str, float] = field(default_factory=lambda: {
        "school_bus": 60.0, "hazmat": 60.0, "muck_truck": 40.0, "coach": 80.0,
        "freight": 80.0, "rural_van": 60.0, "low_speed_truck": 70.0})
    default_limit: float = 80.0
    night_factor: dict[str, float] = field(default_factory=lambda: {"coach": 0.8})
    night_start: str = "22:00"
    night_end: str = "06:00"
    min_duration_s: float = 30.0
    close_after_s: float = 10.0
    serious_excess: float = 0.2
    critical_excess: float = 0.5
    update_step_kmh: float = 10.0


def severity(excess: float, p: Params) -> str:
    if excess >= p.critical_excess:
        return "critical"
    return "serious" if excess >= p.serious_excess else "warning"


def in_window(sod: np.ndarray, start: str, end: str) -> np.ndarray:
    """Local seconds-of-day inside [start, end), crossing midnight if end < start."""
    a, b = parse_hhmm(start) * 60, parse_hhmm(end) * 60
    return (sod >= a) & (sod < b) if a < b else (sod >= a) | (sod < b)


def limits(batch: Batch, ctx: RuleContext, p: Params) -> np.ndarray | None:
    """The limit at each fix, or ``None`` when no fix can exceed any limit."""
    cls = ctx.vehicle.vehicle_class
    base = float(p.limits.get(cls, p.default_limit))
    factor = float(p.night_factor.get(cls, 1.0))
    speed_zones = {z: lim for z in ctx.applicable("speed", batch.zones)
                   if (lim := ctx.index.fences[z].limit_for(cls)) is not None}
    lowest = min([base, *speed_zones.values()]) * min(factor, 1.0)
    if batch.max_speed <= lowest:
        return None
    limit = np.full(batch.n, base)
    if speed_zones and batch.membership is not None:
        for start, end, zones in batch.membership.runs:
            inside = [speed_zones[z] for z in zones if z in speed_zones]
            if inside:
                limit[start:end] = min(inside)
    if factor != 1.0:
        limit = np.where(in_window(batch.local_sod, p.night_start, p.night_end),
                         limit * factor, limit)
    return limit


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    limit = limits(batch, ctx, p)
    if limit is None and not state:
        return state, []
    if limit is None:
        limit = np.full(batch.n, np.inf)
    above = batch.usable & (batch.speed > limit)
    start = 0 if state else int(np.argmax(above))
    st = dict(state)
    events = []
    ts, speed, usable = batch.ts.tolist(), batch.speed.tolist(), batch.usable.tolist()
    for i in range(start, batch.n):
        if usable[i]:
            _step(st, i, ts[i], speed[i], float(limit[i]), bool(above[i]), batch, ctx, p,
                  events)
    return st, events


def _step(st: dict, i: int, ts: float, speed: float, limit: float, above: bool, batch: Batch,
          ctx: RuleContext, p: Params, events: list) -> None:
    lon, lat = batch.position(i)
    if not above:
        if not st.get("open"):
            st.clear()
            return
        below = st.setdefault("below", ts)
        if ts - below >= p.close_after_s:
            events.append(event(RULE, "close", from_epoch(below, ctx.tz), severity=st["sev"],
                                lon=lon, lat=lat, max_speed=st["max"], limit=st["limit"]))
            st.clear()
        return
    st.pop("below", None)
    since = st.setdefault("since", ts)
    if speed > st.get("max", 0.0):
        st["max"], st["limit"] = speed, limit
    sev = severity((st["max"] - st["limit"]) / st["limit"], p)
    if not st.get("open"):
        if ts - since >= p.min_duration_s:
            st.update(open=True, sev=sev, reported=st["max"])
            events.append(event(RULE, "open", from_epoch(since, ctx.tz), severity=sev,
                                lon=lon, lat=lat, speed=speed, limit=limit, max_speed=st["max"]))
        return
    if SEVERITY_RANK[sev] > SEVERITY_RANK[st["sev"]] or \
            st["max"] >= st["reported"] + p.update_step_kmh:
        st["sev"] = max(sev, st["sev"], key=SEVERITY_RANK.__getitem__)
        st["reported"] = st["max"]
        events.append(event(RULE, "update", batch.fixes[i].ts, severity=st["sev"], lon=lon,
                            lat=lat, speed=speed, limit=limit, max_speed=st["max"]))
