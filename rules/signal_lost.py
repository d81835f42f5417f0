"""signal_lost: no data for >= 10 min from a vehicle that was last moving or
had its ignition on.

Normally opened by ``tick`` (the dispatcher's clock) and closed by the next
fix. When no tick saw the silence (a restart, a replay), the gap is still
recorded from the fixes themselves as an open and a close.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from rules import driving
from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "signal_lost"


@dataclass(frozen=True, slots=True)
class Params:
    timeout_s: float = 600.0
    severity: str = "warning"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    first = batch.fixes[0]
    if state.get("open"):
        gap = float(batch.ts[0]) - state["since"]
        return {}, [event(RULE, "close", first.ts, severity=p.severity, lon=first.lon,
                          lat=first.lat, gap_s=round(gap))]
    # (The first fix ever has a gap of 0, so a first batch is checked too.)
    if not driving.any_gap_at_least(batch, p.timeout_s):
        return state, []
    g = driving.gaps(batch)
    ign = np.array([f.ign is True for f in batch.fixes], dtype=bool)
    active = driving.shifted(bool(batch.prev.get("moving") or batch.prev.get("ign")),
                             batch.moving | ign)
    events = []
    for i in np.flatnonzero((g >= p.timeout_s) & active).tolist():
        before = float(batch.ts[i] - g[i])
        lon, lat = batch.position(i - 1)
        events.append(event(RULE, "open", from_epoch(before, ctx.tz), severity=p.severity,
                            lon=lon, lat=lat, detected="after the fact"))
        fix = batch.fixes[i]
        events.append(event(RULE, "close", fix.ts, severity=p.severity, lon=fix.lon,
                            lat=fix.lat, gap_s=round(float(g[i]))))
    return state, events


def tick(state: State, now: datetime, last: dict[str, Any], ctx: RuleContext) -> Result:
    if state.get("open") or not (last.get("moving") or last.get("ign")):
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    if now.timestamp() - last["ts"] < p.timeout_s:
        return state, []
    ev = event(RULE, "open", from_epoch(last["ts"], ctx.tz), severity=p.severity,
               lon=last.get("lon"), lat=last.get("lat"), detected_at=now.isoformat())
    return {"open": True, "since": last["ts"]}, [ev]
