"""cover_open_moving: a muck truck moving with its cover open.

Confirmed after ``min_duration_s`` of movement with the cover open; closes
when the cover closes or the truck has stood still for ``stop_close_s``
(a red light does not end the episode).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch
from rules.types import TachoEvent

RULE = "cover_open_moving"


@dataclass(frozen=True, slots=True)
class Params:
    classes: tuple[str, ...] = ("muck_truck",)
    min_duration_s: float = 30.0
    stop_close_s: float = 120.0
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    covers = any(e.event in ("cover_open", "cover_close") for e in batch.tacho)
    if not state.get("cover") and not covers:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    if ctx.vehicle.vehicle_class not in p.classes:
        return {}, []
    st, events = dict(state), []
    moving, usable = batch.moving.tolist(), batch.usable.tolist()
    index = 0
    for t, _, item in batch.timeline():
        if isinstance(item, TachoEvent):
            st = _cover_event(st, item, batch, ctx, p, events)
            continue
        i, index = index, index + 1
        if st.get("cover") and usable[i]:
            _fix(st, i, t, moving[i], batch, ctx, p, events)
    return st, events


def _cover_event(st: dict, e: TachoEvent, batch: Batch, ctx: RuleContext, p: Params,
                 events: list) -> dict:
    if e.event == "cover_open":
        return st if st.get("cover") else {"cover": True}
    if e.event == "cover_close":
        if st.get("open"):
            lon, lat = (e.lon, e.lat) if e.lon is not None else batch.position(-1)
            events.append(event(RULE, "close", e.ts, severity=p.severity, lon=lon, lat=lat))
        return {}
    return st


def _fix(st: dict, i: int, t: float, moving: bool, batch: Batch, ctx: RuleContext, p: Params,
         events: list) -> None:
    fix = batch.fixes[i]
    if moving:
        st.pop("stop", None)
        since = st.setdefault("since", t)
        if not st.get("open") and t - since >= p.min_duration_s:
            st["open"] = True
            events.append(event(RULE, "open", from_epoch(since, ctx.tz), severity=p.severity,
                                lon=fix.lon, lat=fix.lat, speed=float(batch.speed[i])))
        return
    if not st.get("open"):
        st.pop("since", None)
        return
    stop = st.setdefault("stop", t)
    if t - stop >= p.stop_close_s:
        events.append(event(RULE, "close", from_epoch(stop, ctx.tz), severity=p.severity,
                            lon=fix.lon, lat=fix.lat))
        for k in ("open", "since", "stop"):
            st.pop(k, None)
