"""illegal_unloading: a ``body_lift`` outside every site that applies to the
vehicle (instant, serious).

Inside means the event's own position is in an applicable site, or the
vehicle's confirmed membership at that time is -- either is enough, so a
poor position fix does not accuse a truck unloading at its permitted site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules import instants
from rules.base import Result, RuleContext, State, event
from rules.batch import Batch
from rules.types import TachoEvent

RULE = "illegal_unloading"


@dataclass(frozen=True, slots=True)
class Params:
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    lifts = [e for e in (*batch.late_tacho, *batch.tacho) if e.event == "body_lift"]
    if not lifts:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    recent = list(state.get("recent", []))
    events = []
    for e in lifts:
        t = e.ts.timestamp()
        if instants.seen(recent, t, e.event):
            continue
        recent = instants.remember(recent, t, e.event)
        lon, lat, confirmed = _where(e, batch)
        raw: set[int] = set()
        if lon is not None and lat is not None:
            raw = set(ctx.index.containing(np.array([lon]), np.array([lat]))[0])
        if ctx.applicable("site", raw | confirmed):
            continue
        events.append(event(RULE, "instant", e.ts, severity=p.severity, lon=lon, lat=lat,
                            driver=e.driver))
    return {"recent": recent}, events


def _where(e: TachoEvent, batch: Batch) -> tuple[float | None, float | None, frozenset[int]]:
    """The event's position (its own, else the last fix at or before it) and the
    confirmed zones at that time."""
    i = int(np.searchsorted(batch.ts, e.ts.timestamp(), side="right")) - 1
    confirmed: frozenset[int] = frozenset()
    if batch.membership is not None:
        confirmed = batch.membership.at(i) if i >= 0 else batch.membership.before
    lon, lat = batch.position(i)
    if e.lon is not None and e.lat is not None:
        lon, lat = e.lon, e.lat
    return lon, lat, confirmed
