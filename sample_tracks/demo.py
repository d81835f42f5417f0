"""The live-demo track: ~100 vehicles for 45 minutes from 09:00, 20 s fixes.

Most drive lawfully (under their class limit, slowing near schools, muck
trucks and school buses on their approved routes). A handful misbehave on
purpose so the dashboard has something to show; see DEMO_NOTE.
"""

from __future__ import annotations

import random

import geography as geo
from fences import route_coords, school_speed_cap
from fleet import Vehicle
from scenarios import Pool, rev
from tracklib import Trip, length_m, point_along, split_at

DURATION = 45 * 60
DT = 20
R = geo.ROADS
ROADS_BY_CLASS = {
    "hazmat": ["jzw_expressway", "qingyin_expressway", "jiaozhou_pingdu"],
    "coach": ["jzw_expressway", "qingyin_expressway", "chongqing_road", "liaoyang_road"],
    "freight": ["jzw_expressway", "qingyin_expressway", "jiaozhou_pingdu", "jimo_laixi",
                "yanqing_road"],
    "rural_van": ["jimo_laixi", "jiaozhou_pingdu", "yanqing_road", "binhai_road"],
    "low_speed_truck": ["jimo_laixi", "jiaozhou_pingdu", "yanqing_road"],
}
SPEEDS = {"muck_truck": (30, 36), "school_bus": (38, 50), "hazmat": (45, 55),
          "coach": (55, 74), "freight": (50, 72), "rural_van": (40, 54),
          "low_speed_truck": (35, 50)}
DEMO_COUNTS = {"muck_truck": 30, "school_bus": 12, "hazmat": 10, "coach": 10, "freight": 20,
               "rural_van": 12, "low_speed_truck": 8}
DEMO_NOTE = (
    "Live demo 09:00-09:45, 20 s fixes. Deliberate violations: a muck truck on its night route "
    "into downtown in daytime (forbidden_zone), a hazmat truck into 市南 old town "
    "(forbidden_zone), a coach at ~92 km/h on 重庆路 (speeding), a school bus at ~68 km/h "
    "(speeding), a muck truck driving with its cover open (cover_open_moving), an sos from a "
    "rural van (terminal_alarm), vehicles passing watch fences (geofence_enter/exit).")


def _shuttle(t: Trip, road: list, speed: float, until: int, rng: random.Random) -> None:
    fwd = rng.random() < 0.5
    while t.t < until:
        path = road if fwd else rev(road)
        if t.follow(path, speed, duration=until - t.t):
            fwd = not fwd
            t.stop(60, dt=DT)


def build(pool: Pool, seed: int) -> list[Trip]:
    rng = random.Random(seed)
    trips: list[Trip] = []
    chosen: list[Vehicle] = []
    for cls, n in DEMO_COUNTS.items():
        chosen += [v for v in pool.free if v.vehicle_class == cls][:n]
    for v in chosen:
        pool.free.remove(v)
    special = {}
    for v in chosen:
        cls = v.vehicle_class
        key = (cls, v.routes[0] if v.routes else "")
        if key not in special:
            special[key] = v
    for v in chosen:
        cls = v.vehicle_class
        lo, hi = SPEEDS[cls]
        speed = rng.uniform(lo, hi)
        road = route_coords(v.routes[0]) if v.routes else R[rng.choice(ROADS_BY_CLASS[cls])]
        start = point_along(road, rng.uniform(0.05, 0.95) * length_m(road))
        if v.routes == ["route-muck-sn-night"]:
            start = road[0]
        elif v is special.get(("coach", "")):
            start = R["chongqing_road"][0]
        elif v is special.get(("hazmat", "")):
            start = R["hongkong_road"][-1]
        t0 = rng.randrange(0, 4) * 5
        trip = Trip(v.device_id, start, rng, t0=t0, dt=DT, driver=v.driver,
                    speed_cap=school_speed_cap)
        trip.fix(0.0)
        trip.event("driver_login")
        trips.append(trip)
        if cls == "muck_truck" and v.routes == ["route-muck-sn-night"]:
            if v is special[("muck_truck", "route-muck-sn-night")]:
                # drives its night route in daytime: into the downtown restricted zone
                route = route_coords("route-muck-sn-night")
                trip.follow(route, 34, dt=DT)
                trip.stop(DURATION - trip.t - 60, dt=60)
            else:
                # the others wait in their site until evening
                trip.stop(DURATION - trip.t - 60, ign=False, dt=60)
        elif cls == "muck_truck" and v is special[("muck_truck", "route-muck-hd")]:
            trip.event("cover_open")
            _shuttle(trip, road, speed, DURATION - 60, rng)
            trip.event("cover_close")
        elif cls == "coach" and v is special[("coach", "")]:
            cq = R["chongqing_road"]
            a, b = split_at(cq, 2500)
            trip.follow(a, 60)
            trip.follow(b, 92, duration=120, obey=False)
            trip.follow(b, 60, duration=DURATION - 60 - trip.t)
        elif cls == "school_bus" and v is special[("school_bus", v.routes[0])] \
                and v.routes[0] == "route-bus-jm-01":
            _shuttle(trip, road, 45, 600, rng)
            trip.follow(road, 68, duration=60, obey=False)
            trip.follow(road, 45, duration=DURATION - 60 - trip.t)
        elif cls == "hazmat" and v is special[("hazmat", "")]:
            hk = R["hongkong_road"]
            trip.follow(rev(hk), 40)
            trip.follow(hk, 40, duration=DURATION - 60 - trip.t)
        elif cls == "rural_van" and v is special[("rural_van", "")]:
            _shuttle(trip, road, speed, 900, rng)
            trip.alarms = ["sos"]
            trip.stop(60, dt=DT)
            trip.alarms = []
            _shuttle(trip, road, speed, DURATION - 60, rng)
        else:
            _shuttle(trip, road, speed, DURATION - 60, rng)
        _park_on_site(trip, v)
    return trips


def _park_on_site(trip: Trip, v: Vehicle) -> None:
    # the demo simply ends; vehicles stop where they are, engine off
    trip.park()
    del v


__all__ = ["DEMO_NOTE", "build"]
