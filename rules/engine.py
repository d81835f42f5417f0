"""The rule engine: shared guards, then every rule, for one vehicle at a time.

``process`` takes the vehicle's durable state (a JSON-serialisable dict the
caller checkpoints in the same transaction as the batch) and returns a new one;
the input is never mutated, so a failed transaction can simply be retried.

Shared guards, decided here once:

* fixes are sorted by time; a fix at or before the last processed time
  (``last.ts``) is *late* (or a duplicate): it is never fed to state-machine
  rules again, so a redelivered batch changes nothing; late fixes and tacho
  events are still offered to one-off rules (accidents, unloading, alarms),
  which deduplicate by key themselves;
* within a batch, fixes with the same time are duplicates: the first wins;
* tacho events are ordered with the fixes; an event older than the newest
  fix or event already processed is late; an exact repeat is dropped;
* membership (inside/outside every fence) is confirmed once for all rules;
* a rule that raises is logged with vehicle and rule and skipped: its state
  is left as it was and the other rules still run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from rules import membership
from rules.base import Result, Rule, RuleContext, State, VehicleInfo
from rules.batch import Batch, VehicleInput, build_batches
from rules.membership import MembershipParams
from rules.types import Fix, RuleEvent, TachoEvent

__all__ = ["RuleContext", "RuleEngine", "VehicleInfo"]

log = logging.getLogger(__name__)
STATE_VERSION = 1
# An absent rule state or override table: shared and read-only (rules replace
# states, they never edit them; a rule that tried would fail loudly in the tests).
_NO_STATE: Any = MappingProxyType({})


class RuleEngine:
    """Runs a table of rules (by default ``rules.registry.RULES``)."""

    def __init__(self, rules: Mapping[str, Rule] | None = None) -> None:
        if rules is None:
            from rules.registry import RULES

            rules = RULES
        self.rules = dict(rules)
        self._evaluators = [(name, rule.evaluate) for name, rule in self.rules.items()]

    def process(self, state: State | None, fixes: Sequence[Fix], tacho: Sequence[TachoEvent],
                ctx: RuleContext) -> Result:
        """Apply one vehicle's new fixes and tachograph events."""
        return self.process_many([(state, fixes, tacho, ctx)])[0]

    def process_many(self, items: Sequence[tuple[State | None, Sequence[Fix],
                                                 Sequence[TachoEvent], RuleContext]]
                     ) -> list[Result]:
        """``process`` for many vehicles (a batch's), preparing their fixes together."""
        prepared = []
        inputs = []
        for state, fixes, tacho, ctx in items:
            st = _fresh(state)
            mparams = ctx.params.for_vehicle(ctx.vehicle, "membership")
            new_tacho, late_tacho = _split_tacho(st, tacho)
            inputs.append(VehicleInput(fixes, new_tacho, late_tacho, st.get("last", _NO_STATE),
                                       mparams.moving_kmh, mparams.max_acc_m, ctx.tz))
            prepared.append((st, ctx, mparams))
        return [self._evaluate(st, batch, ctx, mparams)
                for (st, ctx, mparams), batch in zip(prepared, build_batches(inputs),
                                                     strict=True)]

    def _evaluate(self, st: State, batch: Batch, ctx: RuleContext,
                  mparams: MembershipParams) -> Result:
        if batch.n == 0 and not batch.tacho and not batch.late_fixes and not batch.late_tacho:
            return st, []
        st["member"], batch.membership = membership.update(
            st.get("member", {}), batch, confirm_s=mparams.confirm_s,
            zone_confirm=_zone_confirm(ctx))
        events: list[RuleEvent] = []
        rule_states = dict(st.get("rules", {}))
        for name, rule in self._evaluators:
            old = rule_states.get(name, _NO_STATE)
            try:
                new, emitted = rule(old, batch, ctx)
            except Exception:
                log.exception("rule %s failed for vehicle %s; its state is kept",
                              name, ctx.vehicle.vehicle_id, extra=_log_ids(ctx, name))
                continue
            if new is not old:
                _store(rule_states, name, new)
            if emitted:
                events.extend(emitted)
        st["rules"] = rule_states
        if batch.n:
            f = batch.fixes[-1]
            st["last"] = {"ts": float(batch.ts[-1]), "moving": bool(batch.moving[-1]),
                          "ign": f.ign, "lon": f.lon, "lat": f.lat,
                          "speed": float(batch.speed[-1])}
        return st, events

    def tick(self, state: State | None, now: datetime, ctx: RuleContext) -> Result:
        """Clock-driven rules (signal lost, fatigue while data stops) at ``now``."""
        st = _fresh(state)
        if "last" not in st:
            return st, []
        events: list[RuleEvent] = []
        rule_states = dict(st.get("rules", {}))
        for name, rule in self.rules.items():
            if rule.tick is None:
                continue
            try:
                new, emitted = rule.tick(rule_states.get(name, {}), now, st["last"], ctx)
            except Exception:
                log.exception("rule %s tick failed for vehicle %s", name, ctx.vehicle.vehicle_id,
                              extra=_log_ids(ctx, name))
                continue
            _store(rule_states, name, new)
            events.extend(emitted)
        st["rules"] = rule_states
        return st, events


def _split_tacho(st: State,
                 tacho: Sequence[TachoEvent]) -> tuple[list[TachoEvent], list[TachoEvent]]:
    """New vs late tacho events; records the newest events' keys for dedupe."""
    if not tacho:
        return [], []
    seen_ts = st.get("tacho_ts", -np.inf)
    seen = set(st.get("tacho_keys", ()))
    horizon = max(st.get("last", {}).get("ts", -np.inf), seen_ts)
    new: list[TachoEvent] = []
    late: list[TachoEvent] = []
    for e in sorted(tacho, key=lambda e: e.ts):
        t = e.ts.timestamp()
        key = f"{t}|{e.event}|{e.driver or ''}"
        if key in seen:
            continue
        seen.add(key)
        (late if t < horizon else new).append(e)
    newest = max(seen_ts, *(e.ts.timestamp() for e in new)) if new else seen_ts
    if newest != seen_ts or new:
        st["tacho_ts"] = newest
        st["tacho_keys"] = sorted(k for k in seen if float(k.split("|", 1)[0]) >= newest)
    return new, late


def _log_ids(ctx: RuleContext, rule: str) -> dict[str, Any]:
    """The ids a structured log line carries (keywatch.logs)."""
    return {"vehicle_id": ctx.vehicle.vehicle_id, "plate": ctx.vehicle.plate, "rule": rule}


def _zone_confirm(ctx: RuleContext) -> dict[int, float]:
    zones = ctx.params.zones_with("membership")
    if not zones:
        return _NO_STATE
    return {z: ctx.params.for_zone(ctx.vehicle, "membership", z).confirm_s for z in zones}


def _store(rule_states: dict[str, Any], name: str, new: State) -> None:
    if new:
        rule_states[name] = new
    else:
        rule_states.pop(name, None)


def _fresh(state: State | None) -> State:
    """A shallow copy: rules replace, never mutate, the sub-states they are given."""
    st = dict(state or {})
    st.setdefault("v", STATE_VERSION)
    return st
