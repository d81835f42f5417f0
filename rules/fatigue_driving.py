"""fatigue_driving: more than 4 h of driving without a rest of >= 20 min.

Driving time is the sum of moving intervals (``rules.driving``); a stop
shorter than ``rest_s`` does not reset it but does not count either, and a
silence of ``rest_s`` or more counts as a rest (unknown time never counts
against a driver). Coaches at night (22:00-06:00) may drive 2 h. Counted per
driver when driver cards log in/out (a relay driver starts with their own
counter), else per vehicle (key ``""``). ``tick`` extrapolates while data is
late (at most ``max_gap_s``) and closes on a long silence.

An early ``info`` warning ``warn_before_s`` before the limit is off by default
(0): contract section 5 makes only an exceeded limit an incident, and a
warning would be an incident for a driver who then rests in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from rules import driving
from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch
from rules.speeding import in_window

RULE = "fatigue_driving"


@dataclass(frozen=True, slots=True)
class Params:
    limit_s: float = 4 * 3600.0
    night_limit_s: float = 4 * 3600.0
    night_start: str = "22:00"
    night_end: str = "06:00"
    rest_s: float = 20 * 60.0
    warn_before_s: float = 0.0  # 0: no early warning
    max_gap_s: float = 300.0
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 and not batch.tacho:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    segments, current = driving.driver_segments(batch, state.get("cur", ""))
    drivers: dict[str, Any] = dict(state.get("drivers", {}))
    if not drivers and not batch.any_moving and current == state.get("cur", ""):
        return state, []
    credit = driving.drive_credit(batch, p.max_gap_s)
    gap_rest = driving.gap_at_least(batch, p.rest_s)
    any_rest = driving.any_gap_at_least(batch, p.rest_s)
    limit: np.ndarray | float = p.limit_s
    if p.night_limit_s != p.limit_s:
        night = in_window(batch.local_sod, p.night_start, p.night_end)
        limit = np.where(night, p.night_limit_s, p.limit_s)
    events: list = []
    for start, end, key in segments:
        d = drivers.get(key, {})
        d = _segment(d, key, slice(start, end), credit, gap_rest, any_rest, limit, batch, ctx,
                     p, events)
        drivers[key] = d
    drivers = {k: v for k, v in drivers.items() if v.get("cont", 0) > 0 or v.get("open")}
    out: dict[str, Any] = {}
    if drivers:
        out["drivers"] = drivers
    if current:
        out["cur"] = current
    return out, events


def _segment(d: dict, key: str, sl: slice, credit: np.ndarray, gap_rest: np.ndarray,
             any_rest: bool, limit: np.ndarray | float, batch: Batch, ctx: RuleContext,
             p: Params, events: list) -> dict:
    ts, moving = batch.ts[sl], batch.moving[sl]
    varies = isinstance(limit, np.ndarray)
    # (no rest anywhere in the batch: none in this segment; else look)
    rest_here = any_rest and bool(gap_rest[sl].any())
    quiet = _quiet(d, ts, moving, credit[sl], rest_here,
                   float(limit[sl].min()) if varies else limit, p)  # type: ignore[index]
    if quiet is not None:
        return quiet
    lim = limit[sl] if varies else np.full(ts.size, limit)  # type: ignore[index]
    stops = driving.stop_starts(ts, moving, d.get("stop"))
    with np.errstate(invalid="ignore"):
        reset = gap_rest[sl] | (~moving & (ts - stops >= p.rest_s))
    c = np.cumsum(credit[sl])
    at_reset = np.maximum.accumulate(np.where(reset, c, -np.inf))
    cont = np.where(np.isfinite(at_reset), c - at_reset, d.get("cont", 0.0) + c)
    busy = reset | (cont > lim - p.warn_before_s)
    if d.get("warned") and d.get("open"):
        # Already warned and open: until the first rest only a rest matters.
        first_reset = int(np.argmax(reset)) if reset.any() else reset.size
        busy[:first_reset] = False
    d = dict(d)
    for j in np.flatnonzero(busy).tolist():
        _fix(d, key, sl.start + j, float(cont[j]), float(lim[j]), bool(reset[j]),
             float(stops[j]) if reset[j] and np.isfinite(stops[j]) else float(ts[j]),
             batch, ctx, p, events)
    d["cont"] = float(cont[-1])
    if moving[-1]:
        d.pop("stop", None)
    else:
        d["stop"] = float(stops[-1])
    return d


def _quiet(d: dict, ts: np.ndarray, moving: np.ndarray, credit: np.ndarray,
           rest_gap: bool, lowest: float, p: Params) -> dict | None:
    """The driver's new state when this segment can change nothing but the
    counters (no episode, no rest possible, the limit out of reach), else None.
    The common case -- a vehicle driving on -- costs a few scalar steps."""
    if d.get("open") or d.get("warned"):
        return None
    total = d.get("cont", 0.0) + sum(credit.tolist())  # the same order as np.cumsum
    if total > lowest - p.warn_before_s or rest_gap:
        return None
    mv = moving.tolist()
    out = {**d, "cont": total}
    if False not in mv:
        out.pop("stop", None)
        return out
    first_still = mv.index(False)
    carried = d.get("stop") if first_still == 0 else None
    since = float(ts[first_still]) if carried is None else carried
    if float(ts[-1]) - since >= p.rest_s:
        return None
    if mv[-1]:
        out.pop("stop", None)
    elif True not in mv:
        out["stop"] = d.get("stop", float(ts[0]))
    else:
        out["stop"] = float(ts[len(mv) - mv[::-1].index(True)])
    return out


def _fix(d: dict, key: str, i: int, cont: float, lim: float, reset: bool, rest_from: float,
         batch: Batch, ctx: RuleContext, p: Params, events: list) -> None:
    fix = batch.fixes[i]
    if reset:
        if d.get("open"):
            events.append(event(RULE, "close", from_epoch(rest_from, ctx.tz), key=key,
                                severity=p.severity, lon=fix.lon, lat=fix.lat))
        d.pop("open", None)
        d.pop("warned", None)
        return
    if p.warn_before_s > 0 and cont > lim - p.warn_before_s and not d.get("warned"):
        d["warned"] = True
        events.append(event(RULE, "instant", fix.ts, severity="info", key=key, lon=fix.lon,
                            lat=fix.lat, driving_s=round(cont), limit_s=lim, warning=True))
    if cont > lim and not d.get("open"):
        d["open"] = d["warned"] = True
        events.append(event(RULE, "open", fix.ts, severity=p.severity, key=key, lon=fix.lon,
                            lat=fix.lat, driving_s=round(cont), limit_s=lim))


def tick(state: State, now: datetime, last: dict[str, Any], ctx: RuleContext) -> Result:
    key = state.get("cur", "")
    d = state.get("drivers", {}).get(key)
    if not d:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    silent = now.timestamp() - last["ts"]
    if silent >= p.rest_s:
        if not d.get("open"):
            return state, []
        drivers = {k: v for k, v in state["drivers"].items() if k != key}
        ev = event(RULE, "close", from_epoch(last["ts"], ctx.tz), key=key, severity=p.severity,
                   lon=last.get("lon"), lat=last.get("lat"), reason="silent")
        return {**state, "drivers": drivers}, [ev]
    if d.get("open") or not last.get("moving") or silent > p.max_gap_s:
        return state, []
    local = now.astimezone(ctx.tz)
    sod = np.array([local.hour * 3600 + local.minute * 60.0])
    lim = p.night_limit_s if in_window(sod, p.night_start, p.night_end)[0] else p.limit_s
    cont = d.get("cont", 0.0) + silent
    if cont <= lim:
        return state, []
    drivers = {**state["drivers"], key: {**d, "open": True, "warned": True}}
    ev = event(RULE, "open", now, key=key, severity=p.severity, lon=last.get("lon"),
               lat=last.get("lat"), driving_s=round(cont), limit_s=lim, extrapolated=True)
    return {**state, "drivers": drivers}, [ev]
