"""route_deviation: a vehicle with approved routes moving outside all their
corridors for >= 60 s.

Approved routes are the route fences in the vehicle's permits (``granted``) or
listing its plate. "Outside" is the confirmed membership of the corridors
(``buffer_m`` either side), so GPS jitter at the corridor edge never counts;
the distance to the nearest centre line is reported in metres.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "route_deviation"


@dataclass(frozen=True, slots=True)
class Params:
    min_duration_s: float = 60.0
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 or batch.membership is None:
        return state, []
    routes = ctx.approved_routes
    if not routes:
        return {}, _close_all(state, batch, ctx)
    use = batch.use_index
    if use.size == 0:
        return state, []
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
    out, ts = outside[use], batch.ts[use].tolist()
    edges = (np.flatnonzero(out[1:] != out[:-1]) + 1).tolist()
    st, events = dict(state), []
    for a, b in zip([0, *edges], [*edges, use.size], strict=True):
        if not out[a]:
            fix = batch.fixes[int(use[a])]
            if st.get("open"):
                events.append(event(RULE, "close", fix.ts, severity=p.severity, lon=fix.lon,
                                    lat=fix.lat, distance_m=st.get("distance_m")))
            st = {}
        elif not st.get("open"):
            _outside(st, use[a:b], ts[a:b], exits, routes, batch, ctx, p, events)
    return st, events


def _outside(st: dict, idx: np.ndarray, ts: list[float], exits: dict[int, float],
             routes: frozenset[int], batch: Batch, ctx: RuleContext, p: Params,
             events: list) -> None:
    """A run of usable fixes outside every corridor, no episode open yet."""
    if "since" not in st:
        moving = np.flatnonzero(batch.moving[idx])
        if moving.size == 0:
            return
        first = int(idx[moving[0]])
        st["since"] = exits.get(first, float(batch.ts[first]))
    k = bisect_left(ts, st["since"] + p.min_duration_s)
    if k == len(ts):
        return
    fix = batch.fixes[int(idx[k])]
    dist = round(float(ctx.index.distance_m(sorted(routes), [fix.lon], [fix.lat])[0]), 1)
    st.update(open=True, distance_m=dist)
    events.append(event(RULE, "open", from_epoch(st["since"], ctx.tz), severity=p.severity,
                        lon=fix.lon, lat=fix.lat, distance_m=dist, routes=sorted(routes)))


def _close_all(state: State, batch: Batch, ctx: RuleContext) -> list:
    """Permits withdrawn mid-episode: end it rather than leave it open forever."""
    if not state.get("open"):
        return []
    fix = batch.fixes[0]
    return [event(RULE, "close", fix.ts, lon=fix.lon, lat=fix.lat, reason="no approved route")]
