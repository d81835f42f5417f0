"""Where a simulated vehicle goes next, and what it does when it stops.

Muck trucks shuttle between construction sites (load: cover open … close) and
disposal sites (unload: cover open, body lift, body lower, cover close), now
and then resting at a depot; school buses run a sample bus route stop by stop,
back and forth; every other class roams between random on-land points of the
map (coaches far, rural vans close to home).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np

from ingest.simulate_map import CityMap

ROAM_RADIUS_M = {"coach": 80_000.0, "rural_van": 15_000.0, "low_speed_truck": 12_000.0}
DEFAULT_ROAM_M = 30_000.0
TRESPASS_RADIUS_M = 10_000.0  # an injected trespass: into a zone this close


@dataclass(frozen=True, slots=True)
class Stop:
    xy: tuple[float, float]
    seconds: float
    events: tuple[tuple[float, str], ...] = ()  # (seconds after arrival, tacho event)
    engine_on: bool = True
    shift_change_ok: bool = True

    def as_break(self, rng: random.Random) -> Stop:
        """A driver change: engine off, the driver logs out, the next one logs in."""
        seconds = rng.uniform(25, 40) * 60
        return replace(self, seconds=seconds, engine_on=False, shift_change_ok=False,
                       events=((0.0, "driver_logout"), (seconds - 5, "driver_login")))


class TripPlanner:
    def __init__(self, city: CityMap, vehicle_class: str, home: str, rng: random.Random
                 ) -> None:
        self.city, self.vehicle_class, self.rng = city, vehicle_class, rng
        self.kind = {"muck_truck": "muck", "school_bus": "bus"}.get(vehicle_class, "roam")
        forbidden = city.restricted_for(vehicle_class)
        self.forbidden_nodes = {n for z in forbidden for n in city.zone_nodes(z.ref)}
        # Where a clean trip may start or end: outside the class's restricted zones and
        # reachable without crossing one (a leg to anywhere else is a violation).
        self.lawful = city.lawful_nodes(vehicle_class)
        self.sites = [(ref, n) for ref, n in city.sites if n in self.lawful]
        home_nodes = ([n for n in city.nodes_in(home) if n in self.lawful]
                      or sorted(self.lawful))
        self.route: list[int] = []
        self.route_pos, self.route_dir = 0, 1
        if self.kind == "muck":
            self.node = self._nearest([n for _, n in self.sites], home_nodes[0], 3)
        elif self.kind == "bus":
            self.route = self._nearest_route(home_nodes[0])
            self.route_pos = rng.randrange(len(self.route))
            self.node = self.route[self.route_pos]
        else:
            self.node = rng.choice(home_nodes)
        self.target = self.node
        self.trespassing = False

    # -- plan -------------------------------------------------------------------
    def first_stop(self) -> Stop:
        self.target = self.node
        return self.arrived()

    def next_leg(self) -> tuple[np.ndarray, np.ndarray]:
        obey = not self.trespassing and self.node not in self.forbidden_nodes
        if not self.trespassing:
            self.target = self._next_target()
        ids = self.city.path(self.node, self.target, self.vehicle_class, obey=obey)
        self.node = ids[-1]
        self.target = self.node
        self.trespassing = False
        points = self.city.nodes[ids]
        return points[:, 0].copy(), points[:, 1].copy()

    def can_trespass(self) -> bool:
        """A zone this class may not enter is near, and no trespass is planned yet."""
        return not self.trespassing and bool(self._near_forbidden())

    def trespass(self) -> None:
        """Next leg ends inside a zone this class may not enter (a violation): a short
        cut into a zone near where the current leg ends, not a trip across the city."""
        self.target = self.rng.choice(self._near_forbidden())
        self.trespassing = True

    def arrived(self) -> Stop:
        x, y = self.city.nodes[self.node]
        xy = (float(x), float(y))
        rng = self.rng
        if self.node in self.forbidden_nodes:  # trespassing: leave again soon
            return Stop(xy, rng.uniform(30, 90))
        if self.kind == "muck":
            ref = next((r for r, n in self.sites if n == self.node), "")
            if ref.startswith("site-"):
                t = rng.uniform(300, 600)
                return Stop(xy, t, ((20, "cover_open"), (t - 60, "cover_close")))
            if ref.startswith("dump-"):
                t = rng.uniform(240, 480)
                return Stop(xy, t, ((20, "cover_open"), (50, "body_lift"),
                                    (t - 90, "body_lower"), (t - 50, "cover_close")))
            return Stop(xy, rng.uniform(600, 1200), engine_on=False)
        if self.kind == "bus":
            at_end = self.route_pos in (0, len(self.route) - 1)
            return Stop(xy, rng.uniform(20, 60), shift_change_ok=at_end)
        return Stop(xy, rng.uniform(60, 360), engine_on=rng.random() < 0.5)

    def _next_target(self) -> int:
        if self.kind == "muck":
            here = next((r for r, n in self.sites if n == self.node), "")
            want = "dump-" if here.startswith("site-") else "site-"
            if rng_hit(self.rng, 0.1):
                want = "depot-"
            choices = [n for r, n in self.sites if r.startswith(want) and n != self.node]
            return self._nearest(choices or [n for _, n in self.sites], self.node, 3)
        if self.kind == "bus":
            if not 0 <= self.route_pos + self.route_dir < len(self.route):
                self.route_dir = -self.route_dir
            self.route_pos += self.route_dir
            return self.route[self.route_pos]
        radius = ROAM_RADIUS_M.get(self.vehicle_class, DEFAULT_ROAM_M)
        nodes = np.array(sorted(self.lawful))
        d = np.hypot(*(self.city.nodes[nodes] - self.city.nodes[self.node]).T)
        near = nodes[(d < radius) & (d > 1_000)]
        return int(self.rng.choice(list(near))) if len(near) else self.node

    def _near_forbidden(self) -> list[int]:
        nodes = sorted(self.forbidden_nodes)
        if not nodes:
            return []
        d = np.hypot(*(self.city.nodes[nodes] - self.city.nodes[self.node]).T)
        return [n for n, near in zip(nodes, (d < TRESPASS_RADIUS_M).tolist(), strict=True)
                if near]

    def _nearest(self, candidates: list[int], origin: int, among: int) -> int:
        d = [float(np.hypot(*(self.city.nodes[c] - self.city.nodes[origin]))) for c in candidates]
        ranked = [c for _, c in sorted(zip(d, candidates, strict=True))]
        return self.rng.choice(ranked[:among])

    def _nearest_route(self, origin: int) -> list[int]:
        routes = [ids for ref, ids in self.city.routes.items()
                  if ref.startswith("route-bus") and len(ids) > 1]
        here = self.city.nodes[origin]
        return min(routes, key=lambda ids: float(np.hypot(*(self.city.nodes[ids[0]] - here))))


def rng_hit(rng: random.Random, p: float) -> bool:
    return rng.random() < p
