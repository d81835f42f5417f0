"""forbidden_zone: (confirmed) inside a ``restricted`` fence that applies to
the vehicle while its schedule is active. One episode per zone (key = id).

The episode opens at the crossing time when the entry was confirmed in this
batch (else at the first fix where the schedule is active) and closes at the
exit crossing, at the first fix outside the schedule, or when the fence is
deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.base import Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "forbidden_zone"


@dataclass(frozen=True, slots=True)
class Params:
    severity: str = "serious"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0 or batch.membership is None:
        return state, []
    opened: dict[str, float] = state.get("open", {})
    restricted = ctx.applicable("restricted", batch.membership.union())
    if not opened and not restricted:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    opened = dict(opened)
    crossed = {(t.zone, t.index): t for t in batch.membership.transitions}
    events = []
    for start, end, zones in batch.membership.runs:
        if not opened and not zones & restricted:
            continue
        for i in range(start, end):
            events += _at_fix(i, zones & restricted, opened, crossed, batch, ctx, p)
    return ({"open": opened} if opened else {}), events


def _at_fix(i: int, inside: frozenset[int], opened: dict[str, float],
            crossed: dict, batch: Batch, ctx: RuleContext, p: Params) -> list:
    events = []
    fix = batch.fixes[i]
    local = None
    for zone in sorted(inside | {int(k) for k in opened}):
        fence = ctx.index.fences.get(zone)
        active = False
        if fence is not None and zone in inside:
            if fence.schedule is None:
                active = True
            else:
                local = local or batch.local(i)
                active = fence.schedule.active(local)
        key = str(zone)
        cross = crossed.get((zone, i))
        when = from_epoch(cross.ts, ctx.tz) if cross is not None else fix.ts
        if active and key not in opened:
            opened[key] = fix.ts.timestamp()
            events.append(event(RULE, "open", when, severity=p.severity, key=key, lon=fix.lon,
                                lat=fix.lat, zone=zone, zone_name=fence.name))
        elif not active and key in opened:
            del opened[key]
            events.append(event(RULE, "close", when, severity=p.severity, key=key,
                                lon=fix.lon, lat=fix.lat, zone=zone))
    return events
