"""One vehicle's batch, prepared once for every rule.

The engine sorts and filters the fixes, then this turns them into numpy arrays
(times, speeds, motion) and a few summaries (max speed, zones seen, alarms) so
that rules with nothing to do return after a couple of comparisons and the
others work on arrays instead of looping over dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from rules.membership import Membership
from rules.types import Fix, TachoEvent

_EARTH_M = 6_371_008.8
_SOD = "local_sod"
_BAD_FLAGS = frozenset({"jump", "poor_acc"})


COLUMNS = 6  # ts, speed, acc, lon, lat, marked (the fix has flags or alarms)


def columns(fixes: list[Fix]) -> np.ndarray:
    """The numbers of every fix as one ``(n, 6)`` array, in one pass over the
    dataclasses (``None`` becomes NaN): the only per-fix Python work a batch does."""
    n = len(fixes)
    if not n:
        return np.zeros((0, COLUMNS))
    rows = [(f.ts.timestamp(), f.speed, f.acc, f.lon, f.lat, bool(f.flags or f.alarms))
            for f in fixes]
    try:  # the fast way, when every value is a number
        return np.fromiter(chain.from_iterable(rows), float, n * COLUMNS).reshape(n, COLUMNS)
    except TypeError:  # a missing speed or accuracy (None) becomes NaN
        return np.array(rows, dtype=float)


@dataclass(slots=True)
class VehicleInput:
    """One vehicle's part of a batch, before preparation."""

    fixes: Sequence[Fix]  # as received: any order, duplicates and late ones included
    tacho: list[TachoEvent]  # new events, in time order
    late_tacho: list[TachoEvent]
    prev: dict[str, Any]  # the last fix of earlier batches: ts, moving, ign, lon, lat
    moving_kmh: float
    max_acc_m: float
    tz: ZoneInfo


def build_batches(inputs: Sequence[VehicleInput]) -> list[Batch]:
    """Every vehicle's ``Batch`` at once: one pass over the fixes and numpy over
    the whole batch (a live batch has one or two fixes per vehicle, where
    per-vehicle numpy calls would cost more than the work).

    Per vehicle, fixes are sorted by time; a fix at or before the last processed
    time is dropped from the new fixes (older ones become ``late_fixes``); among
    fixes with the same time the first received wins.
    """
    vehicles = len(inputs)
    received = [f for item in inputs for f in item.fixes]
    counts = np.fromiter((len(item.fixes) for item in inputs), np.intp, vehicles)
    cols = columns(received)
    vid = np.repeat(np.arange(vehicles), counts)
    fixes, keep, late = _order(received, cols, vid, inputs)
    if keep is not None:
        cols, vid = cols[keep], vid[keep]
        counts = np.bincount(vid, minlength=vehicles)
    n = len(fixes)
    ts, speed, acc, lon, lat, marks = np.ascontiguousarray(cols.T)
    starts = np.zeros(vehicles, np.intp)
    np.cumsum(counts[:-1], out=starts[1:])
    usable = ~(acc > _per_fix([i.max_acc_m for i in inputs], counts))
    alarmed = np.zeros(vehicles, bool)
    if marks.any():
        for i in np.flatnonzero(marks).tolist():
            f = fixes[i]
            alarmed[vid[i]] |= bool(f.alarms)
            if f.flags & _BAD_FLAGS:
                usable[i] = False
            if "jump" in f.flags:
                speed[i] = 0.0  # a jump is not movement and does not move the vehicle
    missing = np.isnan(speed)
    if missing.any():  # some terminal did not report its speed: from displacement
        for v in np.unique(vid[missing]).tolist():
            sl = slice(starts[v], starts[v] + counts[v])
            speed[sl] = np.where(missing[sl], _derived_speed(ts[sl], lon[sl], lat[sl],
                                                             inputs[v].prev), speed[sl])
    moving_kmh = [i.moving_kmh for i in inputs]
    moving = speed > _per_fix(moving_kmh, counts)
    filled = counts > 0
    top = np.zeros(vehicles)
    if n:
        top[filled] = np.maximum.reduceat(speed, starts[filled])
    # each fix's predecessor: the previous fix, or the last of earlier batches
    before_ts = np.empty(n)
    before_ts[1:] = ts[:-1]
    before_moving = np.empty(n, bool)
    before_moving[1:] = moving[:-1]
    if n:
        f_starts = starts[filled]
        firsts = [inputs[v].prev for v in np.flatnonzero(filled).tolist()]
        before_ts[f_starts] = [ts[s] if (t := prev.get("ts")) is None else t
                               for prev, s in zip(firsts, f_starts.tolist(), strict=True)]
        before_moving[f_starts] = [bool(prev.get("moving", False)) for prev in firsts]
    gaps = ts - before_ts
    sod = _local_sod(ts, inputs)
    arrays = {"gaps": gaps, "before_moving": before_moving, "moving": moving, "usable": usable}
    if sod is not None:
        arrays[_SOD] = sod
    whole = Columns(starts, counts, arrays)
    out = []
    for v, item in enumerate(inputs):
        sl = slice(int(starts[v]), int(starts[v] + counts[v]))
        out.append(Batch(fixes[sl], item.tacho, tz=item.tz, prev=item.prev, ts=ts[sl],
                         speed=speed[sl], lon=lon[sl], lat=lat[sl], usable=usable[sl],
                         moving=moving[sl], max_speed=float(top[v]),
                         any_moving=bool(top[v] > moving_kmh[v]),
                         has_alarms=bool(alarmed[v]), late_fixes=late.get(v, []),
                         late_tacho=item.late_tacho,
                         cache={"gaps": gaps[sl], "before_moving": before_moving[sl]},
                         local_sod=None if sod is None else sod[sl], whole=(whole, v, sl)))
    return out


class Columns:
    """Arrays over every fix of every vehicle of one ``build_batches`` call, and what
    rules derive from them (``Batch.derived``): computed once for the whole batch and
    sliced per vehicle, because numpy on one vehicle's one or two fixes costs
    microseconds a call (a live batch has 40,000 vehicles)."""

    def __init__(self, starts: np.ndarray, counts: np.ndarray,
                 arrays: dict[str, np.ndarray]) -> None:
        self.starts, self.counts = starts, counts
        self.arrays = arrays  # name -> array over all fixes; derived ones are added
        self.flags: dict[Any, list[bool]] = {}  # key -> per vehicle: any element true

    def any_per_vehicle(self, values: np.ndarray) -> list[bool]:
        out = np.zeros(self.counts.size, bool)
        filled = self.counts > 0
        if values.size:
            # segments from one filled vehicle's start to the next's: empty ones hold nothing
            out[filled] = np.logical_or.reduceat(values, self.starts[filled])
        return out.tolist()


def _order(received: list[Fix], cols: np.ndarray, vid: np.ndarray,
           inputs: Sequence[VehicleInput]
           ) -> tuple[list[Fix], np.ndarray | None, dict[int, list[Fix]]]:
    """The new fixes grouped by vehicle in time order, which rows of ``cols``
    they are (``None``: all of them, as they are -- the usual case), and the late
    fixes by vehicle."""
    ts = cols[:, 0]
    last_ts = np.array([item.prev.get("ts", -np.inf) for item in inputs])[vid]
    in_order = ts.size < 2 or bool(((vid[1:] > vid[:-1]) | (ts[1:] > ts[:-1])).all())
    if in_order and not (ts <= last_ts).any():
        return received, None, {}
    order = np.arange(ts.size) if in_order else np.lexsort((ts, vid))  # stable
    ts_o, vid_o, last_o = ts[order], vid[order], last_ts[order]
    dup = np.zeros(ts.size, bool)
    dup[1:] = (vid_o[1:] == vid_o[:-1]) & (ts_o[1:] == ts_o[:-1])  # the first one wins
    old = ts_o <= last_o
    is_late = old & (ts_o < last_o) & ~dup
    late: dict[int, list[Fix]] = {}
    for i, v in zip(order[is_late].tolist(), vid_o[is_late].tolist(), strict=True):
        late.setdefault(v, []).append(received[i])
    keep = order[~old & ~dup]
    return [received[i] for i in keep.tolist()], keep, late


def _per_fix(values: list[float], counts: np.ndarray) -> float | np.ndarray:
    """A per-vehicle threshold for every fix (a scalar when all vehicles share it)."""
    first = values[0] if values else 0.0
    if all(v == first for v in values):
        return first
    return np.repeat(np.asarray(values, float), counts)


def _local_sod(ts: np.ndarray, inputs: Sequence[VehicleInput]) -> np.ndarray | None:
    """Local seconds after midnight of every fix when one UTC offset covers the
    whole batch (else ``None``: each vehicle works it out, DST-safe)."""
    if not ts.size or not inputs:
        return None
    tz = inputs[0].tz
    if any(item.tz is not tz for item in inputs):
        return None
    first = datetime.fromtimestamp(float(ts.min()), tz).utcoffset()
    if first is None or first != datetime.fromtimestamp(float(ts.max()), tz).utcoffset():
        return None
    return (ts + first.total_seconds()) % 86400.0


def _derived_speed(ts: np.ndarray, lon_deg: np.ndarray, lat_deg: np.ndarray,
                   prev: dict[str, Any]) -> np.ndarray:
    """km/h from displacement, for terminals that do not report speed."""
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    plon = np.radians(prev.get("lon", lon_deg[0]))
    plat = np.radians(prev.get("lat", lat_deg[0]))
    prev_lon, prev_lat = np.concatenate([[plon], lon[:-1]]), np.concatenate([[plat], lat[:-1]])
    dx = (lon - prev_lon) * np.cos((lat + prev_lat) / 2)
    dist = _EARTH_M * np.hypot(dx, lat - prev_lat)
    first = prev.get("ts", ts[0])
    dt = ts - np.concatenate([[first], ts[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dt > 0, dist / dt * 3.6, 0.0)


class _once:
    """``functools.cached_property`` without its lock: Python 3.11's takes a lock on
    every first access (~1 µs; a batch of 40,000 vehicles pays it per vehicle and per
    property) and a ``Batch`` never leaves the thread that built it."""

    def __init__(self, func: Any) -> None:
        self.func, self.name = func, func.__name__

    def __get__(self, batch: Any, owner: type | None = None) -> Any:
        if batch is None:
            return self
        value = batch.__dict__[self.name] = self.func(batch)
        return value


class Batch:
    """One vehicle's fixes strictly after everything already processed, in time
    order, as arrays (made by ``build_batches``).

    ``late_fixes`` / ``late_tacho`` are older than the vehicle's last processed
    time: state-machine rules ignore them (their state has moved on); one-off
    rules (accidents, unloading) still report them.
    """

    def __init__(self, fixes: list[Fix], tacho: list[TachoEvent], *, tz: ZoneInfo,
                 prev: dict[str, Any], ts: np.ndarray, speed: np.ndarray, lon: np.ndarray,
                 lat: np.ndarray, usable: np.ndarray, moving: np.ndarray, max_speed: float,
                 any_moving: bool, has_alarms: bool, late_fixes: list[Fix],
                 late_tacho: list[TachoEvent], cache: dict,
                 local_sod: np.ndarray | None = None,
                 whole: tuple[Columns, int, slice]) -> None:
        self.fixes = fixes
        self.tacho = tacho
        self.late_fixes = late_fixes
        self.late_tacho = late_tacho
        self.tz = tz
        self.n = len(fixes)
        self.ts, self.speed, self.lon, self.lat = ts, speed, lon, lat
        self.prev = prev
        self.membership: Membership | None = None
        self.cache = cache  # this vehicle's gaps and before_moving (see ``derived``)
        self.usable = usable  # accuracy within bounds, not a jump or flagged poor
        self.moving = moving
        self.max_speed = max_speed
        self.any_moving = any_moving
        self.has_alarms = has_alarms
        if local_sod is not None:
            self.__dict__["local_sod"] = local_sod  # the lazy property's slot
        self._whole = whole

    def derived(self, key: Any, compute: Callable[[dict[str, np.ndarray]], np.ndarray]
                ) -> np.ndarray:
        """``compute(arrays)`` over this vehicle's fixes, computed once per
        ``build_batches`` call for every vehicle and sliced. ``arrays`` holds ``gaps``,
        ``before_moving``, ``moving``, ``usable``, earlier derived arrays by key and,
        when one UTC offset covers the batch, ``local_sod`` (a ``key`` using it must
        name it: with several offsets each vehicle computes its own). ``compute`` must
        be element-wise (each fix's value from that fix's values alone)."""
        if _SOD in key and _SOD not in self._whole[0].arrays:
            return compute({**self.cache, "moving": self.moving, "usable": self.usable,
                            _SOD: self.local_sod})
        whole, _, sl = self._whole
        values = whole.arrays.get(key)
        if values is None:
            values = whole.arrays[key] = compute(whole.arrays)
        return values[sl]

    def any_derived(self, key: Any, compute: Callable[[dict[str, np.ndarray]], np.ndarray]
                    ) -> bool:
        """``derived(key, compute).any()``, from one reduction over the whole batch."""
        if _SOD in key and _SOD not in self._whole[0].arrays:
            return bool(self.derived(key, compute).any())
        whole, v, _ = self._whole
        flags = whole.flags.get(key)
        if flags is None:
            self.derived(key, compute)
            flags = whole.flags[key] = whole.any_per_vehicle(whole.arrays[key])
        return flags[v]

    @_once
    def use_index(self) -> np.ndarray:
        """Indexes of the usable fixes (the evidence state machines step on)."""
        if not self.any_derived(("unusable",), lambda a: ~a["usable"]):
            return np.arange(self.n)  # the usual case, without a search
        return np.flatnonzero(self.usable)

    @_once
    def zones(self) -> frozenset[int]:
        """Every zone a fix of the batch is raw-inside, plus the confirmed ones."""
        if self.membership is None:
            return frozenset().union(*(f.zones for f in self.fixes))
        confirmed, raw = self.membership.union(), self.membership.raw
        return confirmed | raw if raw else confirmed

    @_once
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
