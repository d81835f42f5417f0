"""daily_driving_limit: more than 8 h of driving within any 24 h window.

Counted per driver when driver cards log in/out (key = licence number; a
relay driver has their own 8 h), else per vehicle (key ``""``), as fatigue.
The state keeps each driver's driving intervals of the last 24 h (merged, so
a few per day); the sliding-window total at each fix is computed with one
``np.interp`` over the cumulative driving curve. The episode closes once the
window total is ``close_margin_s`` below the limit, so it cannot flap while
old driving slides out of the window as new driving comes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rules import driving
from rules.base import Result, RuleContext, State, event
from rules.batch import Batch

RULE = "daily_driving_limit"
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class Params:
    limit_s: float = 8 * 3600.0
    window_s: float = DAY_S
    close_margin_s: float = 1800.0
    max_gap_s: float = 300.0
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 and not batch.tacho:
        return state, []
    drivers = _drivers(state)
    segments, current = driving.driver_segments(batch, state.get("cur", ""))
    if not drivers and not batch.any_moving and current == state.get("cur", ""):
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    credit = driving.drive_credit(batch, p.max_gap_s)
    horizon = float(batch.ts[-1]) - p.window_s if batch.n else -np.inf
    events: list = []
    for start, end, key in segments:
        drivers[key] = _segment(drivers.get(key, {}), key, slice(start, end), credit, batch,
                                ctx, p, events)
    out: dict[str, Any] = {}
    kept = {}
    for key, d in drivers.items():  # drivers who left: their old driving slides out
        iv, total = _prune(d.get("iv", []), d.get("tot", 0.0), horizon)
        if iv is d.get("iv"):
            kept[key] = d
        elif iv or d.get("open"):
            kept[key] = {**d, "iv": iv, "tot": total} if iv else {"open": True}
    if kept:
        out["drivers"] = kept
    if current:
        out["cur"] = current
    return out, events


def _drivers(state: State) -> dict[str, dict]:
    """Per-driver sub-states; a pre-driver state (``iv``/``open`` at the top) is the
    vehicle's (key ``""``)."""
    if "iv" in state or "open" in state:
        return {"": {k: state[k] for k in ("iv", "open") if k in state}}
    return dict(state.get("drivers", {}))


def _segment(d: dict, key: str, sl: slice, credit: np.ndarray, batch: Batch,
             ctx: RuleContext, p: Params, events: list) -> dict:
    """One driver's part of the batch: add its driving, then open/close on the
    sliding-window total at each of its fixes."""
    ts = batch.ts[sl]
    intervals, total = _merge(d.get("iv", []), d.get("tot"), ts, credit[sl])
    intervals, total = _prune(intervals, total, float(ts[-1]) - p.window_s)
    opened = bool(d.get("open"))
    out: dict = {"iv": intervals, "tot": total} if intervals else {}
    if not opened and total <= p.limit_s:
        return out
    window = _window_totals(intervals, ts, p.window_s)
    for j in range(ts.size):
        fix = batch.fixes[sl.start + j]
        if not opened and window[j] > p.limit_s:
            opened = True
            events.append(event(RULE, "open", fix.ts, severity=p.severity, key=key,
                                lon=fix.lon, lat=fix.lat, driving_s=round(float(window[j])),
                                limit_s=p.limit_s))
        elif opened and window[j] <= p.limit_s - p.close_margin_s:
            opened = False
            events.append(event(RULE, "close", fix.ts, severity=p.severity, key=key,
                                lon=fix.lon, lat=fix.lat, driving_s=round(float(window[j]))))
    if opened:
        out["open"] = True
    return out


def _merge(old: list, total: float | None, ts: np.ndarray,
           credit: np.ndarray) -> tuple[list[list[float]], float]:
    """Append this batch's driving intervals, merging touching ones; ``total`` is
    their summed length, kept in the state so that it is not re-added each batch."""
    if total is None:
        total = sum(e - s for s, e in old)
    new: list[list[float]] = []
    for t, c in zip(ts.tolist(), credit.tolist(), strict=True):  # a few dozen fixes
        if c <= 0:
            continue
        if new and t - c <= new[-1][1]:  # starts where the previous one ends
            new[-1][1] = t
        else:
            new.append([t - c, t])
    if not new:
        return old, total
    out = list(old)  # old intervals are shared, never modified
    if out and out[-1][1] >= new[0][0]:
        start, end = out[-1]
        new[0] = [start, max(end, new[0][1])]
        total -= end - start
        out.pop()
    out += new
    return out, total + sum(b - a for a, b in new)


def _prune(intervals: list, total: float, horizon: float) -> tuple[list, float]:
    """Drop the intervals that ended before the window (they are in time order)."""
    k = 0
    while k < len(intervals) and intervals[k][1] <= horizon:
        total -= intervals[k][1] - intervals[k][0]
        k += 1
    return (intervals[k:], total) if k else (intervals, total)


def _window_totals(intervals: list, ts: np.ndarray, window_s: float) -> np.ndarray:
    """Driving seconds in (t - window, t] for each t, from the cumulative curve."""
    if not intervals:
        return np.zeros(ts.size)
    iv = np.asarray(intervals, dtype=float)
    lengths = iv[:, 1] - iv[:, 0]
    before = np.cumsum(lengths) - lengths
    x = np.column_stack([iv[:, 0], iv[:, 1]]).ravel()
    y = np.column_stack([before, before + lengths]).ravel()
    return np.interp(ts, x, y) - np.interp(ts - window_s, x, y)
