"""A deliberately small reference reading of the contract §5 rules (defaults).

It exists to check the sample tracks, not to replace ``rules/``. Where the
contract admits two readings (is a 30 s episode measured first-to-last
above-limit fix, or up to the first fix back under?), it computes both and
reports a note when they disagree, so near misses stay unambiguous.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from shapely.geometry import Point

LIMITS = {"school_bus": 60, "hazmat": 60, "muck_truck": 40, "coach": 80, "freight": 80,
          "rural_van": 60, "low_speed_truck": 70}
MOVING = 5.0
CONFIRM = 15


def applies(f: dict[str, Any], v: dict[str, str]) -> bool:
    classes = f.get("classes") or []
    plates = f.get("plates") or []
    return (not classes or v["vehicle_class"] in classes) and (not plates or v["plate"] in plates)


def active(f: dict[str, Any], when: datetime) -> bool:
    sched = f.get("schedule")
    if not sched:
        return True
    hm = when.strftime("%H:%M")
    for s in sched:
        if when.isoweekday() not in s["days"]:
            continue
        a, b = s["start"], s["end"]
        if (a <= hm < b) if a <= b else (hm >= a or hm < b):
            return True
    return False


def runs(flags: list[tuple[int, bool]]) -> list[tuple[int, int, int | None]]:
    """(first_t, last_t, next_false_t) for each run of True."""
    out, first, last = [], None, None
    for t, on in flags:
        if on:
            first = t if first is None else first
            last = t
        elif first is not None:
            out.append((first, last, t))
            first = None
    if first is not None:
        out.append((first, last, None))
    return out


def count_long(flags: list[tuple[int, bool]], threshold: int, notes: list[str], what: str) -> int:
    n = 0
    for first, last, nxt in runs(flags):
        short = last - first >= threshold
        long = (nxt if nxt is not None else last) - first >= threshold
        if short != long:
            notes.append(f"{what} episode at t={first} is ambiguous ({last - first}-"
                         f"{(nxt or last) - first} s vs {threshold} s)")
        n += short
    return n


def evaluate_device(rows: list[dict[str, Any]], fences: dict[str, dict[str, Any]],
                    start: datetime) -> tuple[dict[str, int], list[str]]:
    v = rows[0]["v"]
    cls = v["vehicle_class"]
    pos = [r for r in rows if r["kind"] == "pos"]
    tacho = [r for r in rows if r["kind"] == "tacho"]
    found: dict[str, int] = defaultdict(int)
    notes: list[str] = []
    inside = {ref: [f["m"].covers(Point(r["x"], r["y"])) for r in pos]
              for ref, f in fences.items() if f["kind"] != "route"}
    when = [start + timedelta(seconds=r["t"]) for r in pos]

    # speeding: class limit, or a lower zone limit
    limits = []
    for i in range(len(pos)):
        lim = LIMITS[cls]
        for ref, f in fences.items():
            if f["kind"] == "speed" and applies(f, v) and inside[ref][i]:
                zl = f["speed_limit"]
                zl = zl.get(cls) if isinstance(zl, dict) else zl
                if zl:
                    lim = min(lim, zl)
        limits.append(lim)
    over = [(r["t"], r["speed"] > lim) for r, lim in zip(pos, limits, strict=True)]
    found["speeding"] = count_long(over,
                                   30, notes, "speeding")
    # forbidden zone: each run inside an active applicable restricted zone
    for ref, f in fences.items():
        if f["kind"] == "restricted" and applies(f, v):
            flags = [(r["t"], inside[ref][i] and active(f, when[i])) for i, r in enumerate(pos)]
            for first, last, _ in runs(flags):
                if last - first < CONFIRM:
                    notes.append(f"forbidden_zone {ref} run at t={first} shorter than 15 s")
                found["forbidden_zone"] += 1
    # route deviation against the vehicle's own routes (and, as a cross-check, all routes
    # of its class)
    own = [fences[r] for r in v["routes"].split(";") if r]
    if own:
        def off(routes: list[dict[str, Any]], r: dict[str, Any]) -> bool:
            p = Point(r["x"], r["y"])
            return r["speed"] > MOVING and all(p.distance(f["m"]) > f["buffer_m"] for f in routes)
        klass = [f for f in fences.values() if f["kind"] == "route" and applies(f, v)]
        n = count_long([(r["t"], off(own, r)) for r in pos], 60, notes, "route_deviation")
        n2 = count_long([(r["t"], off(klass, r)) for r in pos], 60, [], "route_deviation")
        if n != n2:
            notes.append("route_deviation differs between own routes and all class routes")
        found["route_deviation"] = n
    # driving time
    fatigue, daily, cont, rest_from, driven = 0, 0, 0.0, None, []
    for a, b in zip(pos, pos[1:], strict=False):
        dt = b["t"] - a["t"]
        if a["speed"] > MOVING and dt <= 600:
            if rest_from is not None and a["t"] - rest_from >= 20 * 60:
                cont = 0.0
            rest_from = None
            cont += dt
            driven.append((a["t"], dt))
            if cont > 4 * 3600 and not fatigue:
                fatigue = 1
        elif rest_from is None:
            rest_from = a["t"]
        if sum(d for t, d in driven if t > b["t"] - 86400) > 8 * 3600:
            daily = 1
    found["fatigue_driving"], found["daily_driving_limit"] = fatigue, daily
    # night driving
    if cls in ("coach", "hazmat"):
        flags = [(r["t"], r["speed"] > MOVING and 2 <= when[i].hour < 5)
                 for i, r in enumerate(pos)]
        found["night_driving"] = len(runs(flags))
    # muck truck rules
    if cls == "muck_truck":
        sites = [fences[s] for s in v["sites"].split(";") if s]
        all_sites = [f for f in fences.values() if f["kind"] == "site" and applies(f, v)]

        def outside(routes: list[dict[str, Any]], r: dict[str, Any]) -> bool:
            return not any(f["m"].covers(Point(r["x"], r["y"])) for f in routes)
        found["illegal_stop"] = count_long(
            [(r["t"], r["speed"] == 0 and outside(sites, r)) for r in pos], 600, notes,
            "illegal_stop")
        if found["illegal_stop"] != count_long(
                [(r["t"], r["speed"] == 0 and outside(all_sites, r)) for r in pos], 600, [], ""):
            notes.append("illegal_stop differs between own sites and all sites")
        found["illegal_unloading"] = sum(
            1 for r in tacho if r["event"] == "body_lift" and outside(sites, r))
        cover_open, flags = False, []
        for r in rows:
            if r["kind"] == "tacho" and r["event"] in ("cover_open", "cover_close"):
                cover_open = r["event"] == "cover_open"
            elif r["kind"] == "pos":
                flags.append((r["t"], cover_open and r["speed"] > MOVING))
        found["cover_open_moving"] = len(runs(flags))
    # signal lost (also at the end of the file: the platform's clock keeps running)
    lost = 0
    for a, b in zip(pos, pos[1:], strict=False):
        if b["t"] - a["t"] >= 600 and (a["speed"] > MOVING or a["ign"] == "1"):
            lost += 1
    if pos and (pos[-1]["speed"] > MOVING or pos[-1]["ign"] == "1"):
        lost += 1
        notes.append("track ends moving or with ignition on")
    found["signal_lost"] = lost
    # alarms
    acc = [(r["t"], bool({"collision", "rollover"} & set(r["alarms"].split(";")))) for r in pos]
    found["accident_suspect"] = len(runs(acc)) + sum(
        1 for r in tacho if r["event"] == "accident_suspect")
    other = {a for r in pos for a in r["alarms"].split(";") if a} - {"collision", "rollover"}
    found["terminal_alarm"] = sum(
        len(runs([(r["t"], a in r["alarms"].split(";")) for r in pos])) for a in other)
    # watch fences with 15 s confirmation; the first fix sets the side silently
    for ref, f in fences.items():
        if f["kind"] != "watch" or not applies(f, v) or not pos:
            continue
        side, cand = inside[ref][0], None
        for i, r in enumerate(pos):
            now = inside[ref][i]
            if now == side:
                cand = None
                continue
            cand = r["t"] if cand is None else cand
            if r["t"] - cand >= CONFIRM:
                side, cand = now, None
                found["geofence_enter" if now else "geofence_exit"] += 1
    return dict(found), notes
