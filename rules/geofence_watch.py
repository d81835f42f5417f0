"""geofence_enter / geofence_exit: confirmed crossings of ``watch`` fences that
apply to the vehicle, as instants at the crossing time (key = fence id).

Confirmation (15 s on the new side, movement, usable fixes) is the shared
membership's, so this rule needs no state of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

CODES = ("geofence_enter", "geofence_exit")


@dataclass(frozen=True, slots=True)
class Params:
    severity: str = "info"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.membership is None or not batch.membership.transitions:
        return state, []
    watch = ctx.applicable("watch", {t.zone for t in batch.membership.transitions})
    crossings = [t for t in batch.membership.transitions if t.zone in watch]
    if not crossings:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, "geofence_watch")
    return state, [
        event(CODES[0] if t.entered else CODES[1], "instant", from_epoch(t.ts, ctx.tz),
              severity=p.severity, key=str(t.zone), lon=t.lon, lat=t.lat, zone=t.zone,
              zone_name=ctx.index.fences[t.zone].name)
        for t in crossings
    ]
