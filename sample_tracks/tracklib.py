"""Track synthesis: drive a vehicle along waypoint polylines and emit CSV rows.

Positions are interpolated in a local transverse Mercator (metres) so that
the distance between fixes matches the reported speed; a little GPS noise is
added with the caller's seeded random generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from pyproj import Transformer
from shapely.geometry import LineString, Point

LOCAL_CRS = "+proj=tmerc +lat_0=36 +lon_0=120.3 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
_FWD = Transformer.from_crs("EPSG:4326", LOCAL_CRS, always_xy=True)
_INV = Transformer.from_crs(LOCAL_CRS, "EPSG:4326", always_xy=True)

COLUMNS = ["t", "device_id", "kind", "lat", "lon", "speed", "heading", "ign", "acc",
           "alarms", "event", "driver"]

LonLat = tuple[float, float]


def to_xy(lon: float, lat: float) -> tuple[float, float]:
    return _FWD.transform(lon, lat)


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    return _INV.transform(x, y)


def metric_line(coords: Sequence[LonLat]) -> LineString:
    return LineString([to_xy(*c) for c in coords])


class Trip:
    """One vehicle's rows. Time ``t`` is seconds since the scenario start.

    ``speed_cap(lon, lat) -> km/h | None`` lets a considerate driver slow
    down (school zones); ``drive(..., obey=False)`` ignores it on purpose.
    """

    def __init__(self, device_id: str, start: LonLat, rng: random.Random, *, t0: int = 0,
                 dt: int = 10, driver: str = "",
                 speed_cap: Callable[[float, float], float | None] | None = None) -> None:
        self.device_id = device_id
        self.rng = rng
        self.t = t0
        self.dt = dt
        self.driver = driver
        self.speed_cap = speed_cap
        self.x, self.y = to_xy(*start)
        self.heading = 0.0
        self.ign = True
        self.alarms: list[str] = []
        self.rows: list[dict[str, object]] = []

    # -- emission -----------------------------------------------------------
    def _lonlat(self, noise: bool = True) -> LonLat:
        nx = ny = 0.0
        if noise:
            nx = max(-6.0, min(6.0, self.rng.gauss(0, 3)))
            ny = max(-6.0, min(6.0, self.rng.gauss(0, 3)))
        return to_lonlat(self.x + nx, self.y + ny)

    def fix(self, speed: float, *, noise: bool = True, offset: tuple[float, float] = (0, 0)
            ) -> None:
        if offset != (0, 0):
            lon, lat = to_lonlat(self.x + offset[0], self.y + offset[1])
        else:
            lon, lat = self._lonlat(noise)
        self.rows.append({
            "t": self.t, "device_id": self.device_id, "kind": "pos",
            "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "speed": f"{max(speed, 0):.1f}",
            "heading": f"{self.heading:.0f}", "ign": "1" if self.ign else "0",
            "acc": str(self.rng.choice((3, 4, 5, 6, 8))),
            "alarms": ";".join(self.alarms), "event": "", "driver": "",
        })

    def event(self, name: str, *, driver: str | None = None, speed: float = 0.0) -> None:
        lon, lat = self._lonlat(noise=False)
        self.rows.append({
            "t": self.t, "device_id": self.device_id, "kind": "tacho",
            "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "speed": f"{speed:.1f}", "heading": "",
            "ign": "", "acc": "", "alarms": "", "event": name,
            "driver": driver if driver is not None else (
                self.driver if name in ("driver_login", "driver_logout") else ""),
        })

    # -- behaviour ----------------------------------------------------------
    def stop(self, seconds: int, *, ign: bool = True, dt: int | None = None) -> None:
        """Stand still for ``seconds``, reporting every ``dt``."""
        step = dt or self.dt
        self.ign = ign
        end = self.t + seconds
        while self.t + step <= end:
            self.t += step
            self.fix(0.0)
        self.t = end

    def park(self) -> None:
        """End of a track: engine off, two stationary fixes, no more data."""
        self.ign = True
        self.t += self.dt
        self.fix(0.0)
        self.event("driver_logout") if self.driver else None
        self.ign = False
        self.t += self.dt
        self.fix(0.0)

    def drive(self, coords: Sequence[LonLat], speed: float, *, duration: float | None = None,
              obey: bool = True, dt: int | None = None, emit: bool = True,
              jitter: float = 1.0) -> None:
        """Drive from the current position along ``coords`` at ``speed`` km/h.

        Stops at the end of the polyline, or after ``duration`` seconds.
        ``emit=False`` moves without reporting (a signal gap).
        """
        step = dt or self.dt
        pts = [(self.x, self.y)] + [to_xy(*c) for c in coords]
        line = LineString(pts)
        s, elapsed = 0.0, 0.0
        self.ign = True
        while s < line.length - 1e-6 and (duration is None or elapsed < duration - 1e-6):
            here = line.interpolate(s)
            v = speed
            if obey and self.speed_cap:
                ahead = line.interpolate(s + v / 3.6 * step)
                for p in (here, ahead):
                    cap = self.speed_cap(*to_lonlat(p.x, p.y))
                    if cap is not None:
                        v = min(v, cap)
            v_rep = v + self.rng.uniform(-jitter, jitter)
            ds = v / 3.6 * step
            if s + ds > line.length:
                frac = (line.length - s) / ds
                ds = line.length - s
                t_step = max(1, round(step * frac))
            else:
                t_step = step
            nxt: Point = line.interpolate(s + ds)
            if ds > 0.5:
                self.heading = math.degrees(math.atan2(nxt.x - here.x, nxt.y - here.y)) % 360
            s += ds
            elapsed += t_step
            self.x, self.y = nxt.x, nxt.y
            self.t += t_step
            if emit:
                self.fix(v_rep)

    def follow(self, coords: Sequence[LonLat], speed: float, **kw: object) -> bool:
        """Like ``drive`` but first snaps to ``coords`` and drives only what is ahead.

        Returns True when the end of ``coords`` was reached.
        """
        from shapely.ops import substring
        line = metric_line(coords)
        rest = substring(line, line.project(Point(self.x, self.y)), line.length)
        ahead = [to_lonlat(*c) for c in rest.coords][1:]
        if ahead:
            self.drive(ahead, speed, **kw)  # type: ignore[arg-type]
        end = line.coords[-1]
        return math.hypot(self.x - end[0], self.y - end[1]) < 1.0

    def fixes_at(self, points: Sequence[LonLat], speed: float, *, dt: int | None = None
                 ) -> None:
        """Emit one fix exactly at each point (no noise), ``dt`` apart."""
        for lon, lat in points:
            x, y = to_xy(lon, lat)
            if math.hypot(x - self.x, y - self.y) > 0.5:
                self.heading = math.degrees(math.atan2(x - self.x, y - self.y)) % 360
            self.x, self.y = x, y
            self.t += dt or self.dt
            self.fix(speed, noise=False)


def offset_coords(coords: Sequence[LonLat], metres: float) -> list[LonLat]:
    """A parallel polyline ``metres`` to the right (negative: left) of ``coords``."""
    line = metric_line(coords).offset_curve(-metres)
    return [to_lonlat(x, y) for x, y in line.coords]


def point_along(coords: Sequence[LonLat], metres: float) -> LonLat:
    p = metric_line(coords).interpolate(metres)
    return to_lonlat(p.x, p.y)


def split_at(coords: Sequence[LonLat], metres: float) -> tuple[list[LonLat], list[LonLat]]:
    """``coords`` cut ``metres`` from its start: (head, tail), sharing the cut point."""
    from shapely.ops import substring
    line = metric_line(coords)
    head = substring(line, 0, metres)
    tail = substring(line, metres, line.length)
    return ([to_lonlat(*c) for c in head.coords], [to_lonlat(*c) for c in tail.coords])


def length_m(coords: Sequence[LonLat]) -> float:
    return metric_line(coords).length
