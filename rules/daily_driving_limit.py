"""daily_driving_limit: more than 8 h of driving within any 24 h window.

The state keeps the vehicle's driving intervals of the last 24 h (merged, so
a few per day); the sliding-window total at each fix is computed with one
``np.interp`` over the cumulative driving curve. The episode closes once the
window total is ``close_margin_s`` below the limit, so it cannot flap while
old driving slides out of the window as new driving comes in.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    if batch.n == 0 or (not state and not batch.any_moving):
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    credit = driving.drive_credit(batch, p.max_gap_s)
    intervals = _merge(state.get("iv", []), batch.ts, credit)
    horizon = float(batch.ts[-1]) - p.window_s
    intervals = [iv for iv in intervals if iv[1] > horizon]
    total = sum(e - s for s, e in intervals)
    opened = bool(state.get("open"))
    if not opened and total <= p.limit_s:
        return ({"iv": intervals} if intervals else {}), []
    window = _window_totals(intervals, batch.ts, p.window_s)
    events = []
    for i in range(batch.n):
        fix = batch.fixes[i]
        if not opened and window[i] > p.limit_s:
            opened = True
            events.append(event(RULE, "open", fix.ts, severity=p.severity, lon=fix.lon,
                                lat=fix.lat, driving_s=round(float(window[i])),
                                limit_s=p.limit_s))
        elif opened and window[i] <= p.limit_s - p.close_margin_s:
            opened = False
            events.append(event(RULE, "close", fix.ts, severity=p.severity, lon=fix.lon,
                                lat=fix.lat, driving_s=round(float(window[i]))))
    out: dict = {"iv": intervals} if intervals else {}
    if opened:
        out["open"] = True
    return out, events


def _merge(old: list, ts: np.ndarray, credit: np.ndarray) -> list[list[float]]:
    """Append this batch's driving intervals, merging touching ones."""
    out = [list(iv) for iv in old]
    driven = credit > 0
    if not driven.any():
        return out
    ends, starts = ts[driven], (ts - credit)[driven]
    # A new interval begins wherever one does not start at the previous end.
    breaks = np.flatnonzero(starts[1:] > ends[:-1]) + 1
    first = np.concatenate([[0], breaks]).tolist()
    last = np.concatenate([breaks - 1, [ends.size - 1]]).tolist()
    for a, b in zip(first, last, strict=True):
        start, end = float(starts[a]), float(ends[b])
        if out and out[-1][1] >= start:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


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
