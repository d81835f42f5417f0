"""route_deviation: a vehicle with approved routes moving outside all their
corridors for >= 60 s.

Approved routes are the route fences in the vehicle's permits (``granted``) or
listing its plate. "Outside" is the confirmed membership of the corridors
(``buffer_m`` either side), so GPS jitter at the corridor edge never counts;
the distance to the nearest centre line is reported in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "route_deviation"


@dataclass(frozen=True, slots=True)
class Params:
    min_duration_s: float = 60.0
    severity: str = "serious"


def approved_routes(ctx: RuleContext) -> frozenset[int]:
    v, fences = ctx.vehicle, ctx.index.fences
    candidates = (*v.granted, *ctx.index.by_plate.get(v.plate, ()))
    return frozenset(r for r in candidates if (f := fences.get(r)) and f.kind == "route")


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 or batch.membership is None:
        return state, []
    routes = approved_routes(ctx)
    if not routes:
        return {}, _close_all(state, batch, ctx)
    outside = np.ones(batch.n, dtype=bool)
    for start, end, zones in batch.membership.runs:
        if zones & routes:
            outside[start:end] = False
    if not state and not (outside & batch.moving & batch.usable).any():
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    # Deviation starts at the (confirmed) crossing out of the corridor.
    exits = {t.index: t.ts for t in batch.membership.transitions
             if not t.entered and t.zone in routes}
    st, events = dict(state), []
    for i in range(batch.n):
        if not batch.usable[i]:
            continue
        t = float(batch.ts[i])
        fix = batch.fixes[i]
        if not outside[i]:
            if st.get("open"):
                events.append(event(RULE, "close", fix.ts, severity=p.severity, lon=fix.lon,
                                    lat=fix.lat, distance_m=st.get("distance_m")))
            st = {}
            continue
        if "since" not in st and batch.moving[i]:
            st["since"] = exits.get(i, t)
        if "since" in st and not st.get("open") and t - st["since"] >= p.min_duration_s:
            dist = float(ctx.index.distance_m(sorted(routes), [fix.lon], [fix.lat])[0])
            st.update(open=True, distance_m=round(dist, 1))
            events.append(event(RULE, "open", from_epoch(st["since"], ctx.tz),
                                severity=p.severity, lon=fix.lon, lat=fix.lat,
                                distance_m=round(dist, 1), routes=sorted(routes)))
    return st, events


def _close_all(state: State, batch: Batch, ctx: RuleContext) -> list:
    """Permits withdrawn mid-episode: end it rather than leave it open forever."""
    if not state.get("open"):
        return []
    fix = batch.fixes[0]
    return [event(RULE, "close", fix.ts, lon=fix.lon, lat=fix.lat, reason="no approved route")]
