"""One self-contained scenario per CSV: a rule that fires, or a near miss.

Every scenario uses its own vehicle(s). Each declares the incidents the whole
file must produce (``incidents``); ``check.py`` re-derives them with a small
reference evaluator. Tracks end with the vehicle parked, engine off (muck
trucks inside one of their sites), so no trailing signal_lost/illegal_stop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import geography as geo
from fences import route_coords, school_speed_cap, site_point
from fleet import Vehicle
from tracklib import Trip, length_m, offset_coords, point_along, split_at, to_lonlat, to_xy

R = geo.ROADS


@dataclass
class Scenario:
    file: str
    rule: str
    expect: str
    start: str
    note: str
    incidents: dict[str, int]
    trips: list[Trip] = field(default_factory=list)
    extra_rules: list[tuple[str, str]] = field(default_factory=list)  # (rule, expect)


class Pool:
    """Hands out dedicated vehicles so scenarios never share one."""

    def __init__(self, vehicles: list[Vehicle]) -> None:
        self.free = list(vehicles)

    def take(self, cls: str, route: str | None = None) -> Vehicle:
        for v in self.free:
            if v.vehicle_class == cls and (route is None or route in v.routes):
                self.free.remove(v)
                return v
        raise LookupError(f"no free {cls} with route {route}")


def rev(coords: list) -> list:
    return list(reversed(coords))


def day(hhmm: str) -> str:
    return f"2026-11-26T{hhmm}:00+08:00"


class Builder:
    def __init__(self, pool: Pool, seed: int) -> None:
        self.pool = pool
        self.rng = random.Random(seed)
        self.scenarios: list[Scenario] = []

    def trip(self, v: Vehicle, start: tuple[float, float], dt: int = 10) -> Trip:
        t = Trip(v.device_id, start, self.rng, dt=dt, driver=v.driver,
                 speed_cap=school_speed_cap)
        t.fix(0.0)
        t.event("driver_login")
        return t

    def add(self, file: str, rule: str, expect: str, start: str, note: str,
            incidents: dict[str, int], *trips: Trip,
            extra: list[tuple[str, str]] | None = None) -> None:
        self.scenarios.append(Scenario(file, rule, expect, start, note, incidents,
                                       list(trips), extra or []))


# ---------------------------------------------------------------------------
def speeding(b: Builder) -> None:
    bus_route = route_coords("route-bus-ls-01")
    for name, above, expect in (("speeding_fires", 50, "fires"),
                                ("speeding_near_miss", 20, "near_miss")):
        v = b.pool.take("school_bus", "route-bus-ls-01")
        t = b.trip(v, bus_route[0])
        t.stop(60)
        head, tail = split_at(bus_route, 2500)
        t.drive(head, 48)
        t.drive(tail, 66, duration=above)
        t.follow(tail, 48, duration=240)
        t.park()
        n = above // 10
        note = (f"校车 {v.plate} 滨海大道: {n} fixes at ~66 km/h ({(n - 1) * 10} s first-to-last"
                f", class limit 60)")
        note += " -> one speeding (warning)." if expect == "fires" else " then back to 48: none."
        b.add(f"{name}.csv", "speeding", expect, day("07:20"), note,
              {"speeding": 1 if expect == "fires" else 0}, t)
    hd = route_coords("route-bus-hd-01")
    for name, obey, expect in (("speeding_school_zone_fires", False, "fires"),
                               ("speeding_school_zone_near_miss", True, "near_miss")):
        v = b.pool.take("school_bus", "route-bus-hd-01")
        t = b.trip(v, hd[0])
        t.stop(30)
        head, tail = split_at(hd, length_m(hd[:4]) - 900)
        t.drive(head, 45)
        t.drive(tail, 40, duration=150, obey=obey)
        t.follow(tail, 45, duration=200)
        t.park()
        note = (f"校车 {v.plate} 长江路 past 灵山湾小学 (speed zone 30 km/h, r=300 m) at "
                + ("40 km/h for ~55 s -> one speeding (serious, +33 %)." if not obey
                   else "26 km/h -> none."))
        b.add(f"{name}.csv", "speeding", expect, day("07:30"), note,
              {"speeding": 0 if obey else 1}, t)


def forbidden_zone(b: Builder) -> None:
    route = route_coords("route-muck-sn-night")
    for name, start, expect in (("forbidden_zone_fires", "09:45", "fires"),
                                ("forbidden_zone_near_miss_night", "22:15", "near_miss")):
        v = b.pool.take("muck_truck", "route-muck-sn-night")
        t = b.trip(v, route[0], dt=15)
        t.stop(60)
        t.drive(route, 35)
        t.stop(360, dt=30)
        t.drive(rev(route), 34)
        t.park()
        when = "10:03-10:18" if expect == "fires" else "22:33-22:48"
        note = (f"渣土车 {v.plate} on its night route into 市南 site-sn-01 and back; inside "
                f"zone-downtown-muck (07:00-21:00) {when}")
        note += " -> one forbidden_zone." if expect == "fires" else " -> outside schedule, none."
        b.add(f"{name}.csv", "forbidden_zone", expect, day(start), note,
              {"forbidden_zone": 1 if expect == "fires" else 0}, t)
    for name, end_m, expect in (("forbidden_zone_hazmat_fires", None, "fires"),
                                ("forbidden_zone_hazmat_near_miss", 1300, "near_miss")):
        v = b.pool.take("hazmat")
        path = rev(R["huangdao_road"][:3]) + R["xuejiadao_approach"][1:]
        if end_m is not None:
            path, _ = split_at(path, length_m(path) - end_m)
        t = b.trip(v, path[0])
        t.stop(30)
        t.drive(path, 45)
        t.stop(90)
        t.drive(rev(path), 45)
        t.park()
        note = (f"危化品车 {v.plate} towards the 胶州湾隧道 薛家岛 portal; " + (
            "enters zone-tunnel-xuejiadao (always) -> one forbidden_zone." if end_m is None
            else "turns back ~900 m before zone-tunnel-xuejiadao -> none."))
        b.add(f"{name}.csv", "forbidden_zone", expect, day("14:00"), note,
              {"forbidden_zone": 0 if end_m else 1}, t)


def route_deviation(b: Builder) -> None:
    route = route_coords("route-muck-lc-cy")
    dump = route[-1]
    cases = [
        ("route_deviation_fires", "fires",
         "leaves the corridor ~700 m east for ~6 min -> one route_deviation.", 1),
        ("route_deviation_near_miss_short", "near_miss",
         "a 230 m side trip (buffer 150 m): ~25 s beyond the buffer -> none.", 0),
        ("route_deviation_near_miss_buffer", "near_miss",
         "4 min on a service road 80 m beside the route (buffer 150 m) -> none.", 0),
    ]
    for name, expect, text, n in cases:
        v = b.pool.take("muck_truck", "route-muck-lc-cy")
        t = b.trip(v, route[0], dt=10)
        t.stop(120)
        cut = length_m(route[:5])
        head, tail = split_at(route, cut)
        t.drive(head, 35)
        x0, y0 = to_xy(*head[-1])
        if name.endswith("fires"):
            detour = [to_lonlat(x0 + 700, y0 + 50), to_lonlat(x0 + 750, y0 + 1600),
                      to_lonlat(x0 + 120, y0 + 1750)]
            t.drive(detour, 30)
            rest = split_at(tail, 1700)[1]
        elif name.endswith("short"):
            detour = [to_lonlat(x0 + 230, y0 + 20), to_lonlat(x0 + 230, y0 + 120),
                      to_lonlat(x0 + 10, y0 + 150)]
            t.drive(detour, 36)
            rest = split_at(tail, 160)[1]
        else:
            side, rest = split_at(tail, 2200)
            t.drive(offset_coords(side, 80)[1:], 30)
        t.drive(rest, 35)
        t.stop(300, dt=30)
        t.park()
        b.add(f"{name}.csv", "route_deviation", expect, day("13:00"),
              f"渣土车 {v.plate} on route-muck-lc-cy (重庆路) to dump-cy-01: {text}",
              {"route_deviation": n}, t)
    del dump


def shuttle(t: Trip, road: list, speed: float, seconds: int, dt: int = 60) -> None:
    """Drive back and forth along ``road`` for ``seconds`` of driving."""
    end = t.t + seconds
    fwd = True
    while t.t < end:
        path = road if fwd else rev(road)
        if t.follow(path, speed, duration=end - t.t, dt=dt):
            fwd = not fwd


def driving_time(b: Builder) -> None:
    road = R["jzw_expressway"]
    plans = [
        ("fatigue_fires", "fatigue_driving", "fires", [260],
         "4 h 20 min non-stop on 胶州湾高速 -> one fatigue_driving.",
         {"fatigue_driving": 1, "daily_driving_limit": 0}),
        ("fatigue_near_miss", "fatigue_driving", "near_miss", [230, -25, 210],
         "3 h 50 min, 25 min rest, 3 h 30 min (7 h 20 min in all) -> none.",
         {"fatigue_driving": 0, "daily_driving_limit": 0}),
        ("daily_limit_fires", "daily_driving_limit", "fires", [230, -30, 230, -30, 60],
         "3 h 50 + 30 rest + 3 h 50 + 30 rest + 1 h = 8 h 40 min driving -> one "
         "daily_driving_limit, no fatigue.",
         {"fatigue_driving": 0, "daily_driving_limit": 1}),
        ("daily_limit_near_miss", "daily_driving_limit", "near_miss", [230, -30, 220],
         "3 h 50 + 30 rest + 3 h 40 = 7 h 30 min driving -> none.",
         {"fatigue_driving": 0, "daily_driving_limit": 0}),
    ]
    for name, rule, expect, plan, text, incidents in plans:
        v = b.pool.take("coach")
        t = b.trip(v, road[0], dt=60)
        t.stop(300, dt=60)
        for minutes in plan:
            if minutes > 0:
                shuttle(t, road, 72, minutes * 60)
            else:
                t.stop(-minutes * 60, ign=False, dt=60)
        t.park()
        b.add(f"{name}.csv", rule, expect, day("06:00"),
              f"客运车 {v.plate}, one driver (driver_login), 60 s fixes: {text}", incidents, t)


def night(b: Builder) -> None:
    v = b.pool.take("hazmat")
    t = b.trip(v, R["qingyin_expressway"][-1], dt=20)
    t.stop(600, dt=60)
    t.drive(rev(R["qingyin_expressway"]), 55, duration=1800)
    t.park()
    b.add("night_driving_fires.csv", "night_driving", "fires", day("02:00"),
          f"危化品车 {v.plate} on 青银高速 02:10-02:40 -> one night_driving.",
          {"night_driving": 1}, t)
    v = b.pool.take("coach")
    t = b.trip(v, R["jzw_expressway"][0], dt=20)
    t.stop(120, dt=60)
    t.drive(R["jzw_expressway"], 70, duration=3600 + 600)
    t.park()
    t.t += 3 * 3600 + 18 * 60            # parked, engine off, no data until 05:10
    t.fix(0.0)
    t.event("driver_login")
    t.follow(rev(R["jzw_expressway"]), 70, duration=2400)
    t.park()
    b.add("night_driving_near_miss.csv", "night_driving", "near_miss", day("00:40"),
          f"客运车 {v.plate} drives 00:42-01:52, parked (ign off, silent) until 05:10, drives "
          "05:10-05:50 -> none (and no signal_lost: parked with engine off).",
          {"night_driving": 0, "signal_lost": 0}, t)


def stops_and_body(b: Builder) -> None:
    hd = route_coords("route-muck-hd")
    site = length_m(hd[:3])
    for name, minutes, expect in (("illegal_stop_fires", 12, "fires"),
                                  ("illegal_stop_near_miss", 8, "near_miss"),
                                  ("illegal_stop_near_miss_in_site", 0, "near_miss")):
        v = b.pool.take("muck_truck", "route-muck-hd")
        t = b.trip(v, hd[0], dt=15)
        t.stop(60, dt=30)
        to_site, after = split_at(hd, site)
        t.drive(to_site, 34)
        t.stop(1500 if minutes == 0 else 480, dt=30)            # loading inside site-hd-01
        mid, rest = split_at(after, length_m(after) * 0.7)
        t.drive(mid, 34)
        if minutes:
            t.stop(minutes * 60, dt=30)
        t.drive(rest, 34)
        t.event("body_lift")
        t.stop(240, dt=30)
        t.event("body_lower")
        t.stop(60, dt=30)
        t.park()
        what = (f"stops {minutes} min on 长江路 outside every site" if minutes
                else "loads 25 min inside site-hd-01, no roadside stop")
        n = 1 if minutes >= 10 else 0
        b.add(f"{name}.csv", "illegal_stop", expect, day("10:00"),
              f"渣土车 {v.plate}: {what}; unloads inside dump-hd-01 -> "
              + ("one illegal_stop." if n else "none."),
              {"illegal_stop": n, "illegal_unloading": 0}, t)
    jp = route_coords("route-muck-jz-pd")
    for name, outside, expect in (("illegal_unloading_fires", True, "fires"),
                                  ("illegal_unloading_near_miss", False, "near_miss")):
        v = b.pool.take("muck_truck", "route-muck-jz-pd")
        start = point_along(jp, length_m(jp[:3]) + 500)
        route = split_at(jp, length_m(jp[:3]) + 500)[1]
        t = Trip(v.device_id, start, b.rng, dt=20, driver=v.driver, speed_cap=school_speed_cap)
        t.event("driver_login", speed=30)
        if outside:
            a, rest = split_at(route, 8000)
            t.drive(a, 34)
            t.stop(60, dt=20)
            t.event("body_lift")
            t.stop(90, dt=20)
            t.event("body_lower")
            t.stop(30, dt=20)
            t.drive(rest, 34)
        else:
            t.drive(route, 34)
            t.stop(60, dt=20)
            t.event("body_lift")
            t.stop(120, dt=20)
            t.event("body_lower")
        t.stop(60, dt=20)
        t.park()
        b.add(f"{name}.csv", "illegal_unloading", expect, day("21:30"),
              f"渣土车 {v.plate} on 胶平路 to dump-pd-01: body_lift "
              + ("on the roadside 8 km before the dump -> one illegal_unloading."
                 if outside else "inside dump-pd-01 -> none."),
              {"illegal_unloading": 1 if outside else 0, "illegal_stop": 0}, t)


def cover(b: Builder) -> None:
    path = R["yanqing_road"][2:]
    for name, close_first, expect in (("cover_open_moving_fires", False, "fires"),
                                      ("cover_open_moving_near_miss", True, "near_miss")):
        v = b.pool.take("muck_truck", "route-muck-cy-jm")
        t = b.trip(v, path[0], dt=15)
        t.event("cover_open")
        t.stop(300, dt=30)                 # loading inside site-cy-02
        if close_first:
            t.event("cover_close")
            t.stop(30, dt=15)
            t.drive(path, 34)
        else:
            first, rest = split_at(path, 3000)
            t.drive(first, 34)
            t.stop(90, dt=15)
            t.event("cover_close")
            t.stop(30, dt=15)
            t.drive(rest, 34)
        t.stop(120, dt=30)
        t.park()
        b.add(f"{name}.csv", "cover_open_moving", expect, day("15:00"),
              f"渣土车 {v.plate} loads at site-cy-02 with the cover open, "
              + ("leaves with it open for ~5 min, closes it at the roadside -> one "
                 "cover_open_moving." if not close_first else
                 "closes it before moving -> none.") + " Ends in site-jm-01.",
              {"cover_open_moving": 0 if close_first else 1}, t)


def signal(b: Builder) -> None:
    qy = R["qingyin_expressway"]
    for name, gap, ign_off, expect in (("signal_lost_fires", 12, False, "fires"),
                                       ("signal_lost_near_miss", 8, False, "near_miss"),
                                       ("signal_lost_near_miss_parked", 30, True, "near_miss")):
        v = b.pool.take("freight")
        t = b.trip(v, qy[0], dt=20)
        t.stop(60, dt=20)
        t.drive(qy[1:], 70, duration=600)
        if ign_off:
            t.stop(60, dt=20)
            t.ign = False
            t.t += 20  # the engine-off report is a fix of its own, not a second one at t
            t.fix(0.0)
            t.t += gap * 60
            t.fix(0.0)
            t.ign = True
        else:
            t.follow(qy, 70, duration=gap * 60, emit=False)
        t.follow(qy, 70, duration=600)
        t.park()
        text = {"signal_lost_fires": "moving at 70 km/h, then 12 min without data -> one "
                "signal_lost.", "signal_lost_near_miss": "moving, 8 min gap -> none.",
                "signal_lost_near_miss_parked": "parks, engine off, 30 min silent -> none."}
        b.add(f"{name}.csv", "signal_lost", expect, day("11:00"),
              f"货车 {v.plate} on 青银高速: {text[name]}",
              {"signal_lost": 1 if expect == "fires" else 0}, t)


def alarms(b: Builder) -> None:
    jzw = R["jzw_expressway"]
    v = b.pool.take("coach")
    t = b.trip(v, jzw[0], dt=10)
    t.drive(jzw, 70, duration=600)
    t.follow(jzw, 20, duration=10)
    t.event("accident_suspect", speed=0)
    t.stop(600, dt=30)
    t.park()
    b.add("accident_suspect_fires.csv", "accident_suspect", "fires", day("16:00"),
          f"客运车 {v.plate}: tachograph accident_suspect after a sudden stop on 胶州湾高速 -> "
          "one accident_suspect.", {"accident_suspect": 1, "terminal_alarm": 0}, t)
    v = b.pool.take("freight")
    t = b.trip(v, jzw[-1], dt=10)
    t.drive(rev(jzw), 65, duration=480)
    t.alarms = ["collision"]
    t.follow(rev(jzw), 5, duration=20)
    t.stop(30)
    t.alarms = []
    t.stop(300, dt=30)
    t.park()
    b.add("accident_collision_fires.csv", "accident_suspect", "fires", day("16:10"),
          f"货车 {v.plate}: JT/T 808 collision alarm on three fixes -> one accident_suspect "
          "(collision is not a terminal_alarm).", {"accident_suspect": 1, "terminal_alarm": 0}, t)
    v = b.pool.take("freight")
    t = b.trip(v, jzw[-1], dt=10)
    t.drive(rev(jzw), 70, duration=480)
    t.follow(rev(jzw), 10, duration=10)
    t.stop(300, dt=30)
    t.follow(rev(jzw), 60, duration=300)
    t.park()
    b.add("accident_suspect_near_miss.csv", "accident_suspect", "near_miss", day("16:20"),
          f"货车 {v.plate}: hard braking 70 -> 0 km/h and a 5 min stop, no event or alarm -> none.",
          {"accident_suspect": 0, "terminal_alarm": 0}, t)
    for name, sos, expect in (("terminal_alarm_fires", True, "fires"),
                              ("terminal_alarm_near_miss", False, "near_miss")):
        v = b.pool.take("rural_van")
        road = R["jimo_laixi"]
        t = b.trip(v, road[0], dt=15)
        t.drive(road, 50, duration=420)
        if sos:
            t.alarms = ["sos"]
            t.stop(45, dt=15)
            t.alarms = []
        else:
            t.event("power_off")
            t.stop(45, dt=15)
            t.event("power_on")
        t.stop(60, dt=15)
        t.follow(road, 50, duration=300)
        t.park()
        b.add(f"{name}.csv", "terminal_alarm", expect, day("17:00"),
              f"农村面包车 {v.plate} on 烟青公路: " + (
                  "sos alarm on three fixes -> one terminal_alarm (critical)." if sos else
                  "power_off / power_on tacho events, no alarm flags -> none."),
              {"terminal_alarm": 1 if sos else 0}, t)


def watch(b: Builder) -> None:
    hk = rev(R["hongkong_road"][:3])        # 香港中路 westwards to 青岛站
    station = (120.313, 36.064)
    v = b.pool.take("coach")
    t = b.trip(v, hk[0], dt=10)
    t.drive(hk + [station], 30)
    t.stop(300, dt=30)
    t.drive([hk[-1]] + rev(hk), 30)
    t.park()
    b.add("geofence_enter_exit_fires.csv", "geofence_enter", "fires", day("08:30"),
          f"客运车 {v.plate} drives into watch-qd-station (青岛站), waits 5 min, leaves -> one "
          "geofence_enter and one geofence_exit.", {"geofence_enter": 1, "geofence_exit": 1}, t,
          extra=[("geofence_exit", "fires")])
    # clip the station fence's north-east corner: one fix ~30 m inside
    v = b.pool.take("coach")
    cx, cy = to_xy(120.313, 36.064)
    corner = (cx + 300, cy + 300)      # north-east corner; the sea is to the south
    t = b.trip(v, to_lonlat(corner[0] + 400, corner[1] - 30), dt=10)
    pts = [to_lonlat(corner[0] + dx, corner[1] - dy)
           for dx, dy in ((330, 20), (240, 15), (150, 10), (60, 5), (-25, 25), (-75, -45),
                          (-120, -125), (-165, -205), (-210, -285))]
    t.fixes_at(pts, 32)
    t.drive([to_lonlat(corner[0] - 400, corner[1] + 500)], 30)
    t.park()
    b.add("geofence_enter_near_miss.csv", "geofence_enter", "near_miss", day("08:40"),
          f"客运车 {v.plate} cuts the corner of watch-qd-station: one fix (10 s) inside -> no "
          "geofence_enter, no geofence_exit.", {"geofence_enter": 0, "geofence_exit": 0}, t)
    v = b.pool.take("coach")
    t = b.trip(v, hk[0], dt=10)
    t.drive(hk + [station], 30)
    t.stop(180, dt=30)
    t.drive([to_lonlat(cx + 250, cy)], 15)
    t.stop(60, dt=30)
    t.fixes_at([to_lonlat(cx + 340, cy)], 20)       # 40 m outside the east edge, 10 s
    t.fixes_at([to_lonlat(cx + 250, cy)], 20)
    t.stop(240, dt=30)
    t.park()
    b.add("geofence_exit_near_miss.csv", "geofence_exit", "near_miss", day("08:50"),
          f"客运车 {v.plate} enters watch-qd-station (one geofence_enter), pokes 40 m out for one "
          "fix (10 s) and back, stays -> no geofence_exit.",
          {"geofence_enter": 1, "geofence_exit": 0}, t)
    # jitter on the east edge (lon 120.388) of watch-liuting
    v = b.pool.take("freight")
    edge_x, edge_y = to_xy(120.388, 36.266)
    t = b.trip(v, to_lonlat(edge_x + 1300, edge_y), dt=10)
    t.drive([to_lonlat(edge_x + 8, edge_y)], 25)
    jitter = []
    for k in range(120):
        d = b.rng.uniform(2.5, 5.0) * (1 if k % 2 == 0 else -1)
        jitter.append(to_lonlat(edge_x + d, edge_y + b.rng.uniform(-3, 3)))
    t.fixes_at(jitter, 0)
    t.drive([to_lonlat(edge_x + 1300, edge_y + 20)], 25)
    t.park()
    b.add("geofence_jitter_near_miss.csv", "geofence_enter", "near_miss", day("12:00"),
          f"货车 {v.plate} idles 20 min on the east line of watch-liuting (流亭机场), GPS drifting "
          "±5 m across it every 10 s -> no geofence_enter/exit.",
          {"geofence_enter": 0, "geofence_exit": 0}, t, extra=[("geofence_exit", "near_miss")])


ALL: list[Callable[[Builder], None]] = [
    speeding, forbidden_zone, route_deviation, driving_time, night, stops_and_body, cover,
    signal, alarms, watch,
]


def build(pool: Pool, seed: int) -> list[Scenario]:
    b = Builder(pool, seed)
    for make in ALL:
        make(b)
    return b.scenarios


__all__ = ["Pool", "Scenario", "build", "site_point"]
