"""illegal_stop: a muck truck stopped >= 10 min outside every site that applies
to it (its permits, its plate, its class). Closes when it moves again.

``tick`` covers a truck that stops outside its sites and then goes silent with
the ignition on (a favourite way to hide a roadside dump): once it has been
silent for ``silent_s`` and the stop, counted from its start to the clock's
now, reaches ``min_stop_s``, the episode opens at the stop's start. Without a
tick (a restart, a replay), the next fix decides: still standing there, it is
an illegal stop from the fixes alone; moving, it may have left at any time
during the silence and nothing is claimed (``signal_lost`` reports the silence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from rules import driving
from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "illegal_stop"


@dataclass(frozen=True, slots=True)
class Params:
    classes: tuple[str, ...] = ("muck_truck",)
    min_stop_s: float = 600.0
    silent_s: float = 120.0  # tick: silence (ignition on) before the stop is presumed to last
    severity: str = "warning"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 or batch.membership is None:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    if ctx.vehicle.vehicle_class not in p.classes:
        return state, []
    use = batch.use_index
    if use.size == 0:
        return state, []
    ts, moving = batch.ts[use], batch.moving[use]
    stops = driving.stop_starts(ts, moving, state.get("stop"))
    with np.errstate(invalid="ignore"):
        long_stop = ~moving & (ts - stops >= p.min_stop_s)
    if not state.get("open") and not long_stop.any():
        if moving[-1]:
            return {}, []
        return _stopped(float(stops[-1]), int(use[-1]), batch, ctx), []
    outside = ~_in_site(batch, ctx)[use]
    st, events = _scan(dict(state), use, ts, moving, stops, long_stop & outside, batch, ctx, p)
    st.pop("out", None)
    if not moving[-1] and outside[-1]:
        st["out"] = True
    return st, events


def _in_site(batch: Batch, ctx: RuleContext) -> np.ndarray:
    """Whether each fix is (confirmed) inside a site that applies to the vehicle."""
    assert batch.membership is not None
    sites = ctx.applicable("site", batch.membership.union())
    in_site = np.zeros(batch.n, dtype=bool)
    for start, end, zones in batch.membership.runs:
        if zones & sites:
            in_site[start:end] = True
    return in_site


def _scan(st: dict, use: np.ndarray, ts: np.ndarray, moving: np.ndarray, stops: np.ndarray,
          fire: np.ndarray, batch: Batch, ctx: RuleContext, p: Params) -> Result:
    """Runs of moving / standing fixes: a move closes, a long stop outside opens."""
    events = []
    edges = (np.flatnonzero(moving[1:] != moving[:-1]) + 1).tolist()
    for a, b in zip([0, *edges], [*edges, use.size], strict=True):
        if moving[a]:
            if st.get("open"):
                fix = batch.fixes[int(use[a])]
                events.append(event(RULE, "close", fix.ts, severity=p.severity,
                                    lon=fix.lon, lat=fix.lat))
            st = {}
            continue
        st["stop"] = float(stops[a])
        hits = np.flatnonzero(fire[a:b]) if not st.get("open") else ()
        if len(hits):
            j = a + int(hits[0])
            fix = batch.fixes[int(use[j])]
            st["open"] = True
            events.append(event(RULE, "open", from_epoch(st["stop"], ctx.tz),
                                severity=p.severity, lon=fix.lon, lat=fix.lat,
                                stopped_s=round(float(ts[j] - stops[j]))))
    return st, events


def _stopped(since: float, i: int, batch: Batch, ctx: RuleContext) -> State:
    """State of a truck standing since ``since``; ``out`` when outside its sites
    (what ``tick`` needs to judge a silence)."""
    assert batch.membership is not None
    if ctx.applicable("site", batch.membership.at(i)):
        return {"stop": since}
    return {"stop": since, "out": True}


def tick(state: State, now: datetime, last: dict[str, Any], ctx: RuleContext) -> Result:
    if state.get("open") or not state.get("out") or last.get("ign") is not True:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    t = now.timestamp()
    if t - last["ts"] < p.silent_s or t - state["stop"] < p.min_stop_s:
        return state, []
    ev = event(RULE, "open", from_epoch(state["stop"], ctx.tz), severity=p.severity,
               lon=last.get("lon"), lat=last.get("lat"), stopped_s=round(t - state["stop"]),
               silent_s=round(t - last["ts"]), detected_at=now.isoformat())
    return {**state, "open": True}, [ev]
