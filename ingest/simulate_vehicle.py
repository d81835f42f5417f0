"""One simulated vehicle: drives legs along the city map, stops, shifts, violations.

``step(dt)`` advances the vehicle by ``dt`` seconds and returns its fix and any
tachograph events. Speeds follow the class profile and the zone it is in (school
zones slow it, expressway corridors let it go faster), change by at most
``ACCEL_KMH_S`` per second and slow down before each stop, so consecutive
fixes never look like an impossible jump. Unless a violation is injected, a
vehicle keeps the rule pack's limits (``rules/rules.toml``): under the class
limit outside corridors, under a zone's limit inside it, slower at night
where the class has a night factor.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from ingest.simulate_map import CityMap, to_lonlat
from ingest.simulate_trips import Stop, TripPlanner
from rules import speeding

ACCEL_KMH_S = 5.0
CAP_STEP_M = 50.0
CAP_MARGIN_KMH = 4.0  # a zone's cap is this far under its limit
# Cruise at corridor speed only this far inside a corridor: the platform applies a
# corridor's higher limit once the entry is confirmed and the lower one again once
# the exit is, so a driver speeds up after the entry and slows down before the exit.
FAST_MARGIN_M = 250.0
# the regulations' night (speeding's defaults, as rules.toml ships them): one source
_SPEEDING = speeding.Params()
NOISE_M = 3.5  # per axis: about 5 m radial, like a consumer GNSS receiver
NOISE_MAX_M = 9.0  # per axis: no fix is further off than this
# How far from a speed zone's edge a vehicle must be to trust its fixes on the same
# side (the platform decides inside or outside from the noisy fixes): zone caps
# apply this far outside a zone, corridor speed only this far inside a corridor.
ZONE_MARGIN_M = 20.0


@dataclass(frozen=True, slots=True)
class Profile:
    town: tuple[float, float]  # cruising km/h in town
    fast: tuple[float, float]  # cruising km/h inside an expressway corridor
    limit: float  # the platform's default class limit: a speeding burst exceeds it
    night_factor: float = 1.0  # rules.toml [speeding.night_factor]: every limit × this


PROFILES = {
    "muck_truck": Profile((20, 38), (30, 38), 40),
    "school_bus": Profile((25, 48), (50, 58), 60),
    "hazmat": Profile((30, 50), (55, 58), 60),
    "coach": Profile((30, 55), (70, 90), 80, night_factor=_SPEEDING.night_factor["coach"]),
    "freight": Profile((30, 58), (65, 88), 80),
    "rural_van": Profile((25, 50), (45, 55), 60),
    "low_speed_truck": Profile((15, 40), (35, 45), 70),
}


@dataclass(slots=True)
class Leg:
    """Plain lists, not arrays: the per-fix code indexes them one item at a time."""

    xs: list[float]
    ys: list[float]
    cum: list[float]  # distance at each vertex
    caps: list[float]  # a speed zone's limit every CAP_STEP_M (inf: none)
    fast: list[bool]  # well inside an expressway corridor, every CAP_STEP_M
    length: float


@dataclass(slots=True)
class Fix:
    x: float
    y: float
    speed: float
    heading: float
    ign: bool
    alarms: tuple[str, ...] = ()

    def lonlat(self) -> tuple[float, float]:
        return to_lonlat(self.x, self.y)


@dataclass
class Vehicle:
    number: int
    vehicle_class: str
    drivers: tuple[str, str]
    planner: TripPlanner
    rng: random.Random
    tacho: bool = True  # JT/T 808 terminals carry no body/cover events
    clock: float = 0.0
    x: float = math.nan
    y: float = math.nan
    speed: float = 0.0
    heading: float = 0.0
    distance: float = 0.0
    segment: int = 0
    cruise: float = 0.0
    cruise_until: float = 0.0
    cruise_for: tuple[bool, float] | None = None  # (fast, night factor) of the cruise
    leg: Leg | None = None
    stop: Stop | None = None
    stop_left: float = 0.0
    stop_elapsed: float = 0.0
    driver: int = 0
    logged_in: bool = False
    shift_ends: float = 0.0
    burst_until: float = -1.0
    sos_fixes: int = 0
    cover_close_at: float = -1.0
    violations: Counter[str] = field(default_factory=Counter)

    @property
    def profile(self) -> Profile:
        return PROFILES[self.vehicle_class]

    def start(self, city: CityMap) -> None:
        self.shift_ends = self.rng.uniform(2, 4) * 3600
        if self.rng.random() < 0.3:
            self._arrive(self.planner.first_stop())
            # part-way through the stop: what was due before now (a muck truck's
            # cover opening) has happened, the rest (its closing) is still to come
            self.stop_left = self.rng.uniform(0, self.stop_left)
            self.stop_elapsed = self.stop.seconds - self.stop_left if self.stop else 0.0
        else:
            self._depart(city)
            self.distance = self.rng.uniform(0, 0.7) * self.leg.length if self.leg else 0.0
            self.segment = max(0, bisect.bisect_right(self.leg.cum, self.distance) - 1) \
                if self.leg else 0
            self.speed = self.cruise
        self.x, self.y = self._position()

    # -- one tick ---------------------------------------------------------------
    def step(self, dt: float, city: CityMap, violation_p: float, night: bool = False
             ) -> tuple[Fix, list[dict]]:
        """``night``: local time is in the rule pack's night window (``is_night``)."""
        events: list[dict[str, Any]] = []
        if not self.logged_in:
            events.append({"event": "driver_login", "driver": self.drivers[self.driver]})
            self.logged_in = True
        if self.rng.random() < violation_p:
            self._inject(city, events)
        if self.leg is not None:
            self._drive(dt, events, self.profile.night_factor if night else 1.0)
        else:
            self._wait(dt, city, events)
        if 0 <= self.cover_close_at <= self.clock:
            events.append({"event": "cover_close"})
            self.cover_close_at = -1.0
        self.clock += dt
        alarms: tuple[str, ...] = ()
        if self.sos_fixes:
            self.sos_fixes -= 1
            alarms = ("sos",)
        nx = max(-NOISE_MAX_M, min(NOISE_MAX_M, self.rng.gauss(0, NOISE_M)))
        ny = max(-NOISE_MAX_M, min(NOISE_MAX_M, self.rng.gauss(0, NOISE_M)))
        ign = self.leg is not None or (self.stop is not None and self.stop.engine_on)
        fix = Fix(self.x + nx, self.y + ny, round(self.speed, 1), round(self.heading) % 360,
                  ign, alarms)
        return fix, events

    def _drive(self, dt: float, events: list[dict], factor: float) -> None:
        leg = self.leg
        assert leg is not None
        k = min(int(self.distance / CAP_STEP_M), len(leg.caps) - 1)
        # a new cruise speed now and then, and at once on leaving a corridor or at
        # nightfall: a corridor's cruise kept in town would be over the town limit
        if self.clock >= self.cruise_until or self.cruise_for != (leg.fast[k], factor):
            low, high = self.profile.fast if leg.fast[k] else self.profile.town
            self.cruise = self.rng.uniform(low, high) * factor
            self.cruise_until = self.clock + self.rng.uniform(20, 90)
            self.cruise_for = (leg.fast[k], factor)
        target = min(self.cruise, leg.caps[k] * factor - CAP_MARGIN_KMH)
        if self.clock < self.burst_until:
            target = self.profile.limit * 1.3
        remaining = leg.length - self.distance
        target = min(target, 8.0 + remaining / 8.0)  # brake for the stop ahead
        change = max(-ACCEL_KMH_S * dt, min(ACCEL_KMH_S * dt, target - self.speed))
        new_speed = max(0.0, self.speed + change + self.rng.uniform(-0.8, 0.8))
        self.distance += (self.speed + new_speed) / 2 / 3.6 * dt
        self.speed = new_speed
        if self.distance >= leg.length:
            self.x, self.y = leg.xs[-1], leg.ys[-1]
            self.speed = 0.0
            self._arrive(self.planner.arrived(), events)
            return
        while leg.cum[self.segment + 1] < self.distance:
            self.segment += 1
        self.x, self.y = self._position()

    def _position(self) -> tuple[float, float]:
        leg = self.leg
        if leg is None:
            return self.x, self.y
        i = self.segment
        dx, dy = leg.xs[i + 1] - leg.xs[i], leg.ys[i + 1] - leg.ys[i]
        f = (self.distance - leg.cum[i]) / ((leg.cum[i + 1] - leg.cum[i]) or 1.0)
        if dx or dy:
            self.heading = math.degrees(math.atan2(dx, dy)) % 360
        return leg.xs[i] + f * dx, leg.ys[i] + f * dy

    def _arrive(self, stop: Stop, events: list[dict] | None = None) -> None:
        if stop.shift_change_ok and self.clock >= self.shift_ends:
            stop = stop.as_break(self.rng)
            self.shift_ends = self.clock + stop.seconds + self.rng.uniform(2, 4) * 3600
        self.leg, self.stop = None, stop
        self.stop_left, self.stop_elapsed = stop.seconds, 0.0
        if math.isnan(self.x):
            self.x, self.y = stop.xy

    def _wait(self, dt: float, city: CityMap, events: list[dict]) -> None:
        stop = self.stop
        assert stop is not None
        before, self.stop_elapsed = self.stop_elapsed, self.stop_elapsed + dt
        for at, name in stop.events:
            if before <= at < self.stop_elapsed and (self.tacho or name.startswith("driver")):
                events.append(self._event(name))
        self.speed = 0.0
        self.stop_left -= dt
        if self.stop_left <= 0:
            self._depart(city)

    def _event(self, name: str) -> dict[str, Any]:
        if name == "driver_logout":
            return {"event": name, "driver": self.drivers[self.driver]}
        if name == "driver_login":
            self.driver = 1 - self.driver
            return {"event": name, "driver": self.drivers[self.driver]}
        return {"event": name}

    def _depart(self, city: CityMap) -> None:
        xs, ys = self.planner.next_leg()
        self.stop = None
        self.leg = make_leg(city, xs, ys, self.vehicle_class)
        self.distance, self.segment = 0.0, 0
        self.cruise_until, self.cruise_for = 0.0, None
        self.cruise = self.rng.uniform(*self.profile.town)

    # -- violations -------------------------------------------------------------
    def _inject(self, city: CityMap, events: list[dict]) -> None:
        kinds = ["sos"]
        moving = self.leg is not None
        if moving:
            kinds.append("speeding")
            if self.vehicle_class == "muck_truck" and self.tacho and self.cover_close_at < 0:
                kinds.append("cover_open_moving")
            if self.planner.can_trespass():
                kinds.append("forbidden_zone")
        kind = self.rng.choice(kinds)
        self.violations[kind] += 1
        if kind == "sos":
            self.sos_fixes = self.rng.randint(1, 3)
        elif kind == "speeding":
            self.burst_until = self.clock + self.rng.uniform(40, 90)
        elif kind == "cover_open_moving":
            events.append({"event": "cover_open"})
            self.cover_close_at = self.clock + self.rng.uniform(60, 120)
        else:  # the next leg (after the current one) ends inside the zone
            self.planner.trespass()


def make_leg(city: CityMap, xs: np.ndarray, ys: np.ndarray, vehicle_class: str) -> Leg:
    if len(xs) < 2:
        xs, ys = np.repeat(xs, 2), np.repeat(ys, 2)
        xs[1] += 1.0  # a one-metre leg keeps the state machine simple
    cum = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(xs), np.diff(ys)))))
    at = np.arange(0.0, cum[-1] + CAP_STEP_M, CAP_STEP_M)
    px, py = np.interp(at, cum, xs), np.interp(at, cum, ys)
    caps = np.full(len(at), np.inf)
    fast = np.zeros(len(at), dtype=bool)
    for zone in city.zones:
        if zone.kind != "speed":
            continue
        limit = zone.limit.get(vehicle_class) if isinstance(zone.limit, dict) else zone.limit
        if "expressway" in zone.ref:
            fast |= shapely.contains_xy(city.zone_area(zone, -ZONE_MARGIN_M), px, py)
        elif limit is not None and zone.applies(vehicle_class):
            near = shapely.contains_xy(city.zone_area(zone, ZONE_MARGIN_M), px, py)
            caps = np.where(near, np.minimum(caps, float(limit)), caps)
    # a zone cap applies from 150 m before the zone, so the vehicle has braked on entry
    ahead = int(150 / CAP_STEP_M)
    padded = np.concatenate((caps, np.full(ahead, np.inf)))
    caps = np.lib.stride_tricks.sliding_window_view(padded, ahead + 1).min(axis=1)
    # corridor speed only FAST_MARGIN_M after the entry and until as far before the exit
    margin = int(FAST_MARGIN_M / CAP_STEP_M)
    padded = np.concatenate((np.zeros(margin, bool), fast, np.zeros(margin, bool)))
    well_inside = np.lib.stride_tricks.sliding_window_view(padded, 2 * margin + 1).min(axis=1)
    return Leg(xs.tolist(), ys.tolist(), cum.tolist(), caps.tolist(), well_inside.tolist(),
               float(cum[-1]))


def is_night(local: datetime) -> bool:
    """Inside the rule pack's night window (speeding's ``night_start``–``night_end``)."""
    sod = local.hour * 3600 + local.minute * 60 + local.second
    return bool(speeding.in_window(np.array([sod]), _SPEEDING.night_start,
                                   _SPEEDING.night_end)[0])
