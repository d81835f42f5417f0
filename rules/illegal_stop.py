"""illegal_stop: a muck truck stopped >= 10 min outside every site that applies
to it (its permits, its plate, its class). Closes when it moves again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules import driving
from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "illegal_stop"


@dataclass(frozen=True, slots=True)
class Params:
    classes: tuple[str, ...] = ("muck_truck",)
    min_stop_s: float = 600.0
    severity: str = "warning"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 or batch.membership is None:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    if ctx.vehicle.vehicle_class not in p.classes:
        return state, []
    use = np.flatnonzero(batch.usable)
    if use.size == 0:
        return state, []
    ts, moving = batch.ts[use], batch.moving[use]
    stops = driving.stop_starts(ts, moving, state.get("stop"))
    with np.errstate(invalid="ignore"):
        long_stop = ~moving & (ts - stops >= p.min_stop_s)
    if not state.get("open") and not long_stop.any():
        return ({} if moving[-1] else {"stop": float(stops[-1])}), []
    sites = ctx.applicable("site", batch.membership.union())
    st, events = dict(state), []
    for j, i in enumerate(use.tolist()):
        fix = batch.fixes[i]
        if moving[j]:
            if st.get("open"):
                events.append(event(RULE, "close", fix.ts, severity=p.severity,
                                    lon=fix.lon, lat=fix.lat))
            st = {}
            continue
        st["stop"] = float(stops[j])
        if long_stop[j] and not st.get("open") and not (batch.membership.at(i) & sites):
            st["open"] = True
            events.append(event(RULE, "open", from_epoch(st["stop"], ctx.tz),
                                severity=p.severity, lon=fix.lon, lat=fix.lat,
                                stopped_s=round(float(ts[j] - stops[j]))))
    return st, events
