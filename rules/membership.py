"""Confirmed zone membership: the one place that decides "inside" or "outside".

Raw containment (``Fix.zones``) jitters at fence lines, so every zone rule
(forbidden zones, speed zones, sites, corridors, watch fences) reads the
*confirmed* membership computed here once per batch:

* a change is confirmed only after ``confirm_s`` (15 s) on the new side, by a
  later fix, and only if the vehicle moved (speed > ``moving_kmh``) during
  that time -- so a parked vehicle whose position drifts across a line never
  flaps, however long it drifts;
* fixes flagged ``jump`` or ``poor_acc``, or with ``acc`` > ``max_acc_m``, are
  not evidence at all;
* the first usable fix ever seen sets the membership without a transition
  (the vehicle did not cross anything we saw).

A transition's ``ts`` is the first fix on the new side (when the crossing
happened), not the confirming fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rules.batch import Batch

_EMPTY: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class MembershipParams:
    confirm_s: float = 15.0
    max_acc_m: float = 50.0
    moving_kmh: float = 5.0


@dataclass(frozen=True, slots=True)
class Transition:
    zone: int
    entered: bool
    ts: float  # first fix on the new side (epoch seconds)
    index: int  # batch index of the fix that confirmed it
    first: int  # batch index of the first fix on the new side, -1 if in an earlier batch
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Membership:
    """Confirmed zones per fix of a batch, as runs, plus the transitions."""

    before: frozenset[int]
    runs: tuple[tuple[int, int, frozenset[int]], ...]  # [start, end) -> confirmed zones
    transitions: tuple[Transition, ...]
    raw: frozenset[int] = _EMPTY  # every zone some fix of the batch is raw-inside

    def union(self) -> frozenset[int]:
        """Every zone confirmed at some point of the batch (or before it)."""
        if len(self.runs) == 1 and self.runs[0][2] is self.before:
            return self.before  # the usual batch: nothing changed
        out = set(self.before)
        for _, _, zones in self.runs:
            out |= zones
        return frozenset(out)

    def at(self, i: int) -> frozenset[int]:
        for start, end, zones in self.runs:
            if start <= i < end:
                return zones
        return self.before


def update(state: dict[str, Any], batch: Batch, *, confirm_s: float,
           zone_confirm: dict[int, float]) -> tuple[dict, Membership]:
    """Advance the membership state over one batch (never mutates ``state``)."""
    confirmed = frozenset(state.get("in", ()))
    pend: dict[str, list] = state.get("pend", {})
    started = bool(state.get("init"))
    n = batch.n
    zones = [f.zones for f in batch.fixes]
    raw = frozenset().union(*zones) if any(zones) else _EMPTY
    if not raw and not pend and (not confirmed or not batch.usable.any()):
        if not started and batch.usable.any():
            state = {"init": True}
        return state, Membership(confirmed, ((0, n, confirmed),), ())
    ts, usable, moving = batch.ts.tolist(), batch.usable.tolist(), batch.moving.tolist()
    lon, lat = batch.lon.tolist(), batch.lat.tolist()
    before = confirmed
    pend = {k: list(v) for k, v in pend.items()}
    runs: list[tuple[int, int, frozenset[int]]] = []
    transitions: list[Transition] = []
    run_start = 0
    confirmed_key = tuple(sorted(confirmed))  # Fix.zones are ascending tuples
    stepped: tuple | None = None  # the zones of the last fix that took a step
    for i in range(n):
        if not usable[i]:
            continue
        here = zones[i]
        if not pend and here == confirmed_key and started:
            continue  # the usual fix: where the vehicle is known to be
        if (pend and here == stepped and not moving[i]
                and not any(p[2] for p in pend.values())):
            continue  # parked on the same side of a line: nothing can confirm
        observed = frozenset(here)
        if not started:
            started, confirmed = True, observed
            confirmed_key = tuple(sorted(confirmed))
            runs, run_start = [(0, i, before)] if i else [], i
            continue
        if observed == confirmed and not pend:
            continue
        new = _step(confirmed, observed, pend, i, ts[i], moving[i], lon[i], lat[i],
                    confirm_s, zone_confirm, transitions)
        stepped = here
        if new != confirmed:
            runs.append((run_start, i, confirmed))
            run_start, confirmed = i, new
            confirmed_key = tuple(sorted(confirmed))
    runs.append((run_start, n, confirmed))
    out: dict[str, Any] = {"init": True} if started else {}
    if confirmed:
        out["in"] = sorted(confirmed)
    if pend:
        # Batch indexes mean nothing in the next batch.
        out["pend"] = {k: [*v[:5], -1] for k, v in pend.items()}
    return out, Membership(before, tuple(r for r in runs if r[0] < r[1]), tuple(transitions),
                           raw)


def _step(confirmed: frozenset[int], observed: frozenset[int], pend: dict[str, list], i: int,
          ts: float, moving: bool, lon: float, lat: float, confirm_s: float,
          zone_confirm: dict[int, float], transitions: list[Transition]) -> frozenset[int]:
    changed = set(confirmed)
    for zone in (confirmed ^ observed) | {int(k) for k in pend}:
        side = zone in observed
        key = str(zone)
        if side == (zone in confirmed):
            pend.pop(key, None)
            continue
        p = pend.get(key)
        if p is None or bool(p[0]) != side:
            # [side, since, moved, lon, lat, first index in this batch]
            p = pend[key] = [side, ts, moving, lon, lat, i]
        elif moving:
            p[2] = True
        if p[2] and ts - p[1] >= zone_confirm.get(zone, confirm_s):
            transitions.append(Transition(zone, side, p[1], i, p[5], p[3], p[4]))
            pend.pop(key)
            if side:
                changed.add(zone)
            else:
                changed.discard(zone)
    return frozenset(changed)
