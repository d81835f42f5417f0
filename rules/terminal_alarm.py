"""terminal_alarm: any other alarm a terminal raises (``sos`` critical, the rest
from a severity table, default warning). One episode per alarm name (key) while
it stays raised; it closes at the first fix without it. Collision and rollover
belong to ``accident_suspect``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rules.base import Result, RuleContext, State, event
from rules.batch import Batch

RULE = "terminal_alarm"


@dataclass(frozen=True, slots=True)
class Params:
    severities: dict[str, str] = field(default_factory=lambda: {
        "sos": "critical", "power_cut": "serious", "fatigue": "warning",
        "overspeed": "warning"})
    default_severity: str = "warning"
    excluded: tuple[str, ...] = ("collision", "rollover")


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    opened: dict[str, float] = state.get("open", {})
    if batch.n == 0 or (not batch.has_alarms and not opened):
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    opened, events = dict(opened), []
    excluded = set(p.excluded)
    for f in batch.fixes:
        raised = set(f.alarms) - excluded
        for name in sorted(raised - opened.keys()):
            opened[name] = f.ts.timestamp()
            events.append(event(RULE, "open", f.ts, key=name, lon=f.lon, lat=f.lat, alarm=name,
                                severity=p.severities.get(name, p.default_severity)))
        for name in sorted(opened.keys() - raised):
            del opened[name]
            events.append(event(RULE, "close", f.ts, key=name, lon=f.lon, lat=f.lat, alarm=name,
                                severity=p.severities.get(name, p.default_severity)))
    return ({"open": opened} if opened else {}), events
