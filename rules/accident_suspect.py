"""accident_suspect: a tachograph ``accident_suspect`` event, or a ``collision``
/ ``rollover`` alarm, is a critical instant.

An alarm stays raised over several fixes: only its rising edge counts, and a
late fix repeating an alarm reported within ``dedupe_s`` is not reported again.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules import instants
from rules.base import Result, RuleContext, State, event
from rules.batch import Batch

RULE = "accident_suspect"


@dataclass(frozen=True, slots=True)
class Params:
    alarms: tuple[str, ...] = ("collision", "rollover")
    dedupe_s: float = 120.0
    severity: str = "critical"


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    tacho = [e for e in (*batch.late_tacho, *batch.tacho) if e.event == "accident_suspect"]
    late_alarms = any(f.alarms for f in batch.late_fixes)
    if not tacho and not batch.has_alarms and not late_alarms and not state.get("raised"):
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    recent, events = list(state.get("recent", [])), []
    for e in tacho:
        t = e.ts.timestamp()
        if not instants.seen(recent, t, "tacho"):
            recent = instants.remember(recent, t, "tacho")
            events.append(event(RULE, "instant", e.ts, severity=p.severity, lon=e.lon,
                                lat=e.lat, source="tachograph", driver=e.driver))
    for f in batch.late_fixes:
        for name in set(f.alarms) & set(p.alarms):
            t = f.ts.timestamp()
            if not instants.seen(recent, t, name, p.dedupe_s):
                recent = instants.remember(recent, t, name)
                events.append(event(RULE, "instant", f.ts, severity=p.severity, lon=f.lon,
                                    lat=f.lat, source="alarm", alarm=name, late=True))
    raised = set(state.get("raised", []))
    for f in batch.fixes:
        now = set(f.alarms) & set(p.alarms)
        for name in sorted(now - raised):
            recent = instants.remember(recent, f.ts.timestamp(), name)
            events.append(event(RULE, "instant", f.ts, severity=p.severity, lon=f.lon,
                                lat=f.lat, source="alarm", alarm=name))
        raised = now
    out: dict = {"recent": recent} if recent else {}
    if raised:
        out["raised"] = sorted(raised)
    return out, events
