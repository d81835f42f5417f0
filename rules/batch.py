"""One vehicle's batch, prepared once for every rule.

The engine sorts and filters the fixes, then this turns them into numpy arrays
(times, speeds, motion) and a few summaries (max speed, zones seen, alarms) so
that rules with nothing to do return after a couple of comparisons and the
others work on arrays instead of looping over dataclasses.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from rules.membership import Membership
from rules.types import Fix, TachoEvent

_EARTH_M = 6_371_008.8
_BAD_FLAGS = frozenset({"jump", "poor_acc"})


COLUMNS = 5  # ts, speed, acc, lon, lat


def columns(fixes: list[Fix]) -> np.ndarray:
    """The numbers of every fix as one ``(n, 5)`` array, in one pass over the
    dataclasses (``None`` becomes NaN): the only per-fix Python work a batch does."""
    n = len(fixes)
    if not n:
        return np.zeros((0, COLUMNS))
    rows = [(f.ts.timestamp(), f.speed, f.acc, f.lon, f.lat) for f in fixes]
    try:  # the fast way, when every value is a number
        return np.fromiter(chain.from_iterable(rows), float, n * COLUMNS).reshape(n, COLUMNS)
    except TypeError:  # a missing speed or accuracy (None) becomes NaN
        return np.array(rows, dtype=float)


class Batch:
    """Fixes strictly after everything already processed, in time order.

    ``late_fixes`` / ``late_tacho`` are older than the vehicle's last processed
    time: state-machine rules ignore them (their state has moved on); one-off
    rules (accidents, unloading) still report them.
    """

    def __init__(self, fixes: list[Fix], cols: np.ndarray, tacho: list[TachoEvent], *,
                 tz: ZoneInfo, prev: dict[str, Any], moving_kmh: float, max_acc_m: float,
                 late_fixes: list[Fix] | None = None,
                 late_tacho: list[TachoEvent] | None = None) -> None:
        self.fixes = fixes
        self.tacho = tacho
        self.late_fixes = late_fixes or []
        self.late_tacho = late_tacho or []
        self.tz = tz
        self.n = len(fixes)
        self.ts, speed, acc, self.lon, self.lat = np.ascontiguousarray(cols.T)
        self.prev = prev  # the last fix of earlier batches: ts, moving, ign, lon, lat
        self.prev_ts: float | None = prev.get("ts")
        self.membership: Membership | None = None
        self.cache: dict = {}  # arrays several rules share (gaps, driving credit)
        self.usable = ~(acc > max_acc_m)  # NaN (no accuracy reported) compares False: usable
        marked = [i for i, f in enumerate(fixes) if f.flags or f.alarms]
        self.has_alarms = False
        if marked:
            speed = speed.copy()
            for i in marked:
                f = fixes[i]
                self.has_alarms = self.has_alarms or bool(f.alarms)
                if f.flags & _BAD_FLAGS:
                    self.usable[i] = False
                if "jump" in f.flags:
                    speed[i] = 0.0  # a jump is not movement and does not move the vehicle
        top = float(speed.max()) if self.n else 0.0
        if top != top:  # NaN: some terminal did not report its speed
            speed = np.where(np.isnan(speed), self._derived_speed(), speed)
            top = float(speed.max())
        self.speed = speed
        self.moving = speed > moving_kmh
        self.max_speed = top
        self.any_moving = top > moving_kmh

    def _derived_speed(self) -> np.ndarray:
        """km/h from displacement, for terminals that do not report speed."""
        lon = np.radians(self.lon)
        lat = np.radians(self.lat)
        plon = np.radians(self.prev.get("lon", self.lon[0]))
        plat = np.radians(self.prev.get("lat", self.lat[0]))
        prev_lon, prev_lat = np.concatenate([[plon], lon[:-1]]), np.concatenate([[plat], lat[:-1]])
        dx = (lon - prev_lon) * np.cos((lat + prev_lat) / 2)
        dist = _EARTH_M * np.hypot(dx, lat - prev_lat)
        first = self.prev_ts if self.prev_ts is not None else self.ts[0]
        dt = self.ts - np.concatenate([[first], self.ts[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(dt > 0, dist / dt * 3.6, 0.0)

    @cached_property
    def use_index(self) -> np.ndarray:
        """Indexes of the usable fixes (the evidence state machines step on)."""
        return np.flatnonzero(self.usable)

    @cached_property
    def zones(self) -> frozenset[int]:
        """Every zone a fix of the batch is raw-inside, plus the confirmed ones."""
        if self.membership is None:
            return frozenset().union(*(f.zones for f in self.fixes))
        return self.membership.raw | self.membership.union()

    @cached_property
    def local_sod(self) -> np.ndarray:
        """Local seconds after midnight for each fix (``tz``, DST-safe)."""
        if self.n == 0:
            return np.zeros(0)
        first = self.fixes[0].ts.astimezone(self.tz).utcoffset()
        last = self.fixes[-1].ts.astimezone(self.tz).utcoffset()
        if first == last and first is not None:
            return (self.ts + first.total_seconds()) % 86400.0
        offsets = [f.ts.astimezone(self.tz).utcoffset().total_seconds() for f in self.fixes]
        return (self.ts + np.array(offsets)) % 86400.0

    def local(self, i: int) -> datetime:
        return self.fixes[i].ts.astimezone(self.tz)

    def timeline(self) -> list[tuple[float, int, Fix | TachoEvent]]:
        """Fixes and tacho events merged in time order; at equal times an event
        comes first (a cover opened at t applies to the fix at t)."""
        items: list[tuple[float, int, Any]] = [(t, 1, f) for t, f in
                                               zip(self.ts.tolist(), self.fixes, strict=True)]
        items += [(e.ts.timestamp(), 0, e) for e in self.tacho]
        items.sort(key=lambda item: (item[0], item[1]))
        return items

    def position(self, i: int) -> tuple[float | None, float | None]:
        if 0 <= i < self.n:
            return self.fixes[i].lon, self.fixes[i].lat
        return self.prev.get("lon"), self.prev.get("lat")
