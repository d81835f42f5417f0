"""night_driving: a coach or hazmat vehicle moving between 02:00 and 05:00 local.

Opens after ``min_duration_s`` of movement inside the window (one noisy speed
reading is not a trip); closes at the first fix outside the window or after
a stop of ``stop_close_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch
from rules.speeding import in_window

RULE = "night_driving"


@dataclass(frozen=True, slots=True)
class Params:
    classes: tuple[str, ...] = ("coach", "hazmat")
    start: str = "02:00"
    end: str = "05:00"
    min_duration_s: float = 60.0
    stop_close_s: float = 600.0
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    if ctx.vehicle.vehicle_class not in p.classes:
        return state, []
    key = ("local_sod", "window", p.start, p.end)
    if not state and not batch.any_derived(
            (*key, "moving"), lambda a: in_window(a["local_sod"], p.start, p.end) & a["moving"]):
        return state, []
    window = batch.derived(key, lambda a: in_window(a["local_sod"], p.start, p.end))
    st, events = dict(state), []
    for i in np.flatnonzero(batch.usable).tolist():
        t, fix = float(batch.ts[i]), batch.fixes[i]
        if not window[i]:
            _close(st, fix.ts, fix, ctx, p, events)
            st = {}
        elif batch.moving[i]:
            st.pop("stop", None)
            since = st.setdefault("since", t)
            if not st.get("open") and t - since >= p.min_duration_s:
                st["open"] = True
                events.append(event(RULE, "open", from_epoch(since, ctx.tz),
                                    severity=p.severity, lon=fix.lon, lat=fix.lat,
                                    speed=float(batch.speed[i])))
        elif st:
            stop = st.setdefault("stop", t)
            if t - stop >= p.stop_close_s or not st.get("open"):
                _close(st, from_epoch(stop, ctx.tz), fix, ctx, p, events)
                st = {}
    return st, events


def _close(st: dict, when, fix, ctx: RuleContext, p: Params, events: list) -> None:
    if st.get("open"):
        events.append(event(RULE, "close", when, severity=p.severity, lon=fix.lon, lat=fix.lat))
