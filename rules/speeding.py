"""speeding: above the class or speed-zone limit for >= 30 s.

A ``speed`` zone the vehicle is (confirmed) inside replaces the class limit
(an expressway may allow more); inside several, the lowest wins. At night
(22:00-06:00 local) a class's night factor applies (coach 0.8). Severity is
by the episode's worst excess and upgrades with an ``update`` event; a new
maximum speed is reported only every ``update_step_kmh`` to keep volume low.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from geo.schedule import parse_hhmm
from rules.base import SEVERITY_RANK, Result, RuleContext, State, event, from_epoch
from rules.batch import Batch

RULE = "speeding"


@dataclass(frozen=True, slots=True)
class Params:
    limits: dict[str, float] = field(default_factory=lambda: {
        "school_bus": 60.0, "hazmat": 60.0, "muck_truck": 40.0, "coach": 80.0,
        "freight": 80.0, "rural_van": 60.0, "low_speed_truck": 70.0})
    default_limit: float = 80.0
    night_factor: dict[str, float] = field(default_factory=lambda: {"coach": 0.8})
    night_start: str = "22:00"
    night_end: str = "06:00"
    min_duration_s: float = 30.0
    close_after_s: float = 10.0
    serious_excess: float = 0.2
    critical_excess: float = 0.5
    update_step_kmh: float = 10.0


def severity(excess: float, p: Params) -> str:
    if excess >= p.critical_excess:
        return "critical"
    return "serious" if excess >= p.serious_excess else "warning"


@lru_cache(maxsize=64)
def _seconds(hhmm: str) -> int:
    return parse_hhmm(hhmm) * 60


def in_window(sod: np.ndarray, start: str, end: str) -> np.ndarray:
    """Local seconds-of-day inside [start, end), crossing midnight if end < start."""
    a, b = _seconds(start), _seconds(end)
    return (sod >= a) & (sod < b) if a < b else (sod >= a) | (sod < b)


def limits(batch: Batch, ctx: RuleContext, p: Params) -> np.ndarray | None:
    """The limit at each fix, or ``None`` when no fix can exceed any limit."""
    cls = ctx.vehicle.vehicle_class
    base = float(p.limits.get(cls, p.default_limit))
    factor = float(p.night_factor.get(cls, 1.0))
    speed_zones = {z: lim for z in ctx.applicable("speed", batch.zones)
                   if (lim := ctx.index.fences[z].limit_for(cls)) is not None}
    lowest = min([base, *speed_zones.values()]) * min(factor, 1.0)
    if batch.max_speed <= lowest:
        return None
    limit = np.full(batch.n, base)
    if speed_zones and batch.membership is not None:
        for start, end, zones in batch.membership.runs:
            inside = [speed_zones[z] for z in zones if z in speed_zones]
            if inside:
                limit[start:end] = min(inside)
    if factor != 1.0:
        limit = np.where(in_window(batch.local_sod, p.night_start, p.night_end),
                         limit * factor, limit)
    return limit


def evaluate(state: State, batch: Batch, ctx: RuleContext) -> Result:
    if batch.n == 0:
        return state, []
    p: Params = ctx.params.for_vehicle(ctx.vehicle, RULE)
    limit = limits(batch, ctx, p)
    if limit is None and not state:
        return state, []
    use = batch.use_index
    if use.size == 0:
        return state, []
    if limit is None:
        limit = np.full(batch.n, np.inf)
    ts, speed = batch.ts, batch.speed
    if use.size < batch.n:
        ts, speed, limit = ts[use], speed[use], limit[use]
    above = speed > limit
    if not state and not above.any():
        return state, []
    # The state machine runs over runs of above / not above (usable fixes only),
    # so a batch costs a few steps per run, not per fix.
    edges = (np.flatnonzero(above[1:] != above[:-1]) + 1).tolist()
    scan = _Scan(use.tolist(), ts.tolist(), speed.tolist(), limit.tolist(), batch, ctx, p)
    st, ts_, last = dict(state), scan.ts, len(scan.idx)
    min_s, up = p.min_duration_s, above.tolist()
    for start, end in zip([0, *edges], [*edges, last], strict=True):
        if not up[start]:
            if st.get("open"):
                scan.below(st, start, end)
            elif st:
                st.clear()
        elif st.get("open") or end == last or ts_[end - 1] - st.get("since", ts_[start]) >= min_s:
            scan.above(st, start, end)
        # else: too short to open, and the next run (under the limit) forgets it
    return st, scan.events


class _Scan:
    """One batch's usable fixes as lists, and the events found so far."""

    def __init__(self, idx: list[int], ts: list[float], speed: list[float], limit: list[float],
                 batch: Batch, ctx: RuleContext, p: Params) -> None:
        self.idx, self.ts, self.speed, self.limit = idx, ts, speed, limit
        self.batch, self.ctx, self.p = batch, ctx, p
        self.events: list = []

    def below(self, st: dict, start: int, end: int) -> None:
        """Under the limit with an episode open: closes it once it has been
        under for ``close_after_s``."""
        since = st.setdefault("below", self.ts[start])
        j = bisect_left(self.ts, since + self.p.close_after_s, start, end)
        if j < end:
            lon, lat = self.batch.position(self.idx[j])
            self.events.append(event(RULE, "close", from_epoch(since, self.ctx.tz),
                                     severity=st["sev"], lon=lon, lat=lat,
                                     max_speed=st["max"], limit=st["limit"]))
            st.clear()

    def above(self, st: dict, start: int, end: int) -> None:
        st.pop("below", None)
        since = st.setdefault("since", self.ts[start])
        first = start
        if not st.get("open"):
            first = bisect_left(self.ts, since + self.p.min_duration_s, start, end)
            if first == end:  # too short (yet): only the maximum matters
                self._track_max(st, start, end)
                return
            self._track_max(st, start, first + 1)
            self._open(st, first, since)
            first += 1
        for k in range(first, end):
            if self.speed[k] > st["max"]:
                st["max"], st["limit"] = self.speed[k], self.limit[k]
                self._maybe_update(st, k)

    def _track_max(self, st: dict, start: int, end: int) -> None:
        top = max(range(start, end), key=self.speed.__getitem__)
        if self.speed[top] > st.get("max", 0.0):
            st["max"], st["limit"] = self.speed[top], self.limit[top]

    def _open(self, st: dict, k: int, since: float) -> None:
        sev = severity((st["max"] - st["limit"]) / st["limit"], self.p)
        st.update(open=True, sev=sev, reported=st["max"])
        lon, lat = self.batch.position(self.idx[k])
        self.events.append(event(RULE, "open", from_epoch(since, self.ctx.tz), severity=sev,
                                 lon=lon, lat=lat, speed=self.speed[k], limit=self.limit[k],
                                 max_speed=st["max"]))

    def _maybe_update(self, st: dict, k: int) -> None:
        sev = severity((st["max"] - st["limit"]) / st["limit"], self.p)
        if SEVERITY_RANK[sev] > SEVERITY_RANK[st["sev"]] or \
                st["max"] >= st["reported"] + self.p.update_step_kmh:
            st["sev"] = max(sev, st["sev"], key=SEVERITY_RANK.__getitem__)
            st["reported"] = st["max"]
            i = self.idx[k]
            lon, lat = self.batch.position(i)
            self.events.append(event(RULE, "update", self.batch.fixes[i].ts, severity=st["sev"],
                                     lon=lon, lat=lat, speed=self.speed[k],
                                     limit=self.limit[k], max_speed=st["max"]))
