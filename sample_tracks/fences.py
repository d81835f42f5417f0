"""The sample city's geofences (contract §4), built on the roads in geography."""

from __future__ import annotations

import math
from typing import Any

import geography as geo
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.ops import substring
from tracklib import metric_line, to_lonlat, to_xy

EXPRESSWAY_LIMITS = {"coach": 100, "school_bus": 80, "hazmat": 80, "freight": 100,
                     "muck_truck": 60}
DAYTIME = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "07:00", "end": "21:00"}]


def square(lon: float, lat: float, half_m: float, rot_deg: float = 0.0) -> Polygon:
    x, y = to_xy(lon, lat)
    a = math.radians(rot_deg)
    corners = []
    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        cx = dx * half_m * math.cos(a) - dy * half_m * math.sin(a)
        cy = dx * half_m * math.sin(a) + dy * half_m * math.cos(a)
        corners.append(_round(to_lonlat(x + cx, y + cy)))
    return Polygon(corners)


def circle(lon: float, lat: float, radius_m: float, n: int = 16) -> Polygon:
    x, y = to_xy(lon, lat)
    return Polygon([
        _round(to_lonlat(x + radius_m * math.cos(2 * math.pi * k / n),
                         y + radius_m * math.sin(2 * math.pi * k / n)))
        for k in range(n)
    ])


def corridor(coords: list[tuple[float, float]], half_width_m: float) -> Polygon:
    buf = metric_line(coords).buffer(half_width_m, quad_segs=2, cap_style="flat")
    return Polygon([_round(to_lonlat(x, y)) for x, y in buf.exterior.coords])


def part_of(road: str, start: float, end: float) -> list[tuple[float, float]]:
    """Waypoints of ``road`` between fractions ``start`` and ``end`` of its length."""
    line = LineString(geo.ROADS[road])
    seg = substring(line, start, end, normalized=True)
    return [_round(c) for c in seg.coords]


def _round(c: tuple[float, float]) -> tuple[float, float]:
    return (round(c[0], 6), round(c[1], 6))


R = geo.ROADS

# (ref, name, kind, geometry, extra properties)
SITES = [
    ("site-lc-01", "李沧区 重庆中路安置房工地", R["chongqing_road"][2], 180),
    ("site-lc-02", "李沧区 金水路商业综合体工地", R["liaoyang_road"][5], 180),
    ("site-sn-01", "市南区 香港中路地铁站工地(夜间施工)", R["hongkong_road"][2], 150),
    ("site-hd-01", "黄岛区 长江路片区改造工地", R["huangdao_road"][2], 180),
    ("site-jm-01", "即墨区 烟青路北段工地", R["yanqing_road"][-1], 180),
    ("site-cy-02", "城阳区 烟青路产业园工地", R["yanqing_road"][2], 180),
    ("site-jz-01", "胶州市 胶平路物流园工地", R["jiaozhou_pingdu"][1], 180),
    ("dump-cy-01", "城阳区 重庆北路建筑垃圾消纳场", R["chongqing_road"][-1], 220),
    ("dump-hd-01", "黄岛区 灵山湾建筑垃圾消纳场", R["huangdao_road"][-1], 220),
    ("dump-pd-01", "平度市 胶平路建筑垃圾消纳场", R["jiaozhou_pingdu"][-1], 220),
    ("depot-lc-01", "李沧区 渣土车集中停放场", R["chongqing_road"][3], 150),
    ("depot-hd-01", "黄岛区 前湾渣土车停放场", R["huangdao_road"][0], 150),
]

MUCK_ROUTES = [
    ("route-muck-lc-cy", "李沧—城阳 重庆路渣土运输路线", R["chongqing_road"][2:], 150),
    ("route-muck-sn-night", "李沧—市南 金水路—辽阳路 夜间渣土运输路线",
     [R["liaoyang_road"][5], (120.445, 36.120), (120.425, 36.100), (120.395, 36.092),
      (120.385, 36.075), R["hongkong_road"][2]], 120),
    ("route-muck-hd", "黄岛 长江路—灵山湾渣土运输路线", R["huangdao_road"], 150),
    ("route-muck-cy-jm", "城阳—即墨 烟青路渣土运输路线",
     [R["chongqing_road"][6]] + R["yanqing_road"], 200),
    ("route-muck-jz-pd", "胶州—平度 胶平路渣土运输路线", R["jiaozhou_pingdu"], 200),
]

BUS_ROUTES = [
    ("route-bus-ls-01", "崂山区 滨海大道校车线路", R["binhai_road"], 150),
    ("route-bus-cy-01", "城阳区 重庆北路校车线路", R["chongqing_road"][3:], 150),
    ("route-bus-hd-01", "黄岛区 长江路校车线路", R["huangdao_road"], 150),
    ("route-bus-jm-01", "即墨—莱西 烟青公路校车线路", R["jimo_laixi"], 150),
    ("route-bus-jz-01", "胶州市 胶平路校车线路", R["jiaozhou_pingdu"][:3], 150),
]

SCHOOLS = [
    ("school-ls-01", "崂山区 沙子口小学 限速区", R["binhai_road"][2]),
    ("school-cy-01", "城阳区 实验小学 限速区", R["chongqing_road"][5]),
    ("school-hd-01", "黄岛区 灵山湾小学 限速区", R["huangdao_road"][3]),
    ("school-jm-01", "莱西市 水集中学 限速区", R["jimo_laixi"][3]),
    ("school-jz-01", "胶州市 胶平路小学 限速区", (120.005, 36.335)),
]

SCHOOL_RADIUS_M = 300
DOWNTOWN_MUCK = Polygon([
    (120.270, 36.035), (120.440, 36.035), (120.440, 36.085), (120.420, 36.0845),
    (120.400, 36.083), (120.370, 36.082), (120.340, 36.080), (120.300, 36.078),
    (120.270, 36.070),
])
DOWNTOWN_HAZMAT = Polygon([
    (120.275, 36.038), (120.360, 36.038), (120.360, 36.077), (120.330, 36.076),
    (120.300, 36.074), (120.275, 36.062),
])
WATCH = [
    ("watch-qd-station", "青岛站 周边", square(120.313, 36.064, 300)),
    ("watch-liuting", "流亭机场 周边", Polygon([
        (120.362, 36.255), (120.388, 36.255), (120.388, 36.278), (120.362, 36.278)])),
    ("watch-jiaodong", "胶东国际机场 周边", Polygon([
        (120.070, 36.350), (120.110, 36.350), (120.110, 36.375), (120.070, 36.375)])),
    ("watch-qd-port", "青岛港 前湾港区", square(120.200, 36.022, 400, 20)),
]
TUNNEL_TUANDAO = circle(120.296, 36.058, 350)
TUNNEL_XUEJIADAO = circle(120.245, 36.012, 400)


def feature(ref: str, name: str, kind: str, geom: Any, **props: Any) -> dict[str, Any]:
    properties = {"ref": ref, "name": name, "kind": kind}
    properties.update({k: v for k, v in props.items() if v is not None})
    return {"type": "Feature", "properties": properties, "geometry": mapping(geom)}


def geofences() -> list[dict[str, Any]]:
    out = []
    for ref, name, (lon, lat), half in SITES:
        out.append(feature(ref, name, "site", square(lon, lat, half, 15),
                           classes=["muck_truck"]))
    for ref, name, coords, buf in MUCK_ROUTES:
        out.append(feature(ref, name, "route", LineString(coords), classes=["muck_truck"],
                           buffer_m=buf))
    for ref, name, coords, buf in BUS_ROUTES:
        out.append(feature(ref, name, "route", LineString(coords), classes=["school_bus"],
                           buffer_m=buf))
    out.append(feature("zone-downtown-muck", "市南/市北 中心城区 渣土车日间禁行区",
                       "restricted", DOWNTOWN_MUCK, classes=["muck_truck"], schedule=DAYTIME))
    out.append(feature("zone-downtown-hazmat", "市南区 老城区 危险货物运输车禁行区",
                       "restricted", DOWNTOWN_HAZMAT, classes=["hazmat"]))
    out.append(feature("zone-tunnel-tuandao", "胶州湾隧道 团岛端 危险货物运输车禁行区",
                       "restricted", TUNNEL_TUANDAO, classes=["hazmat"]))
    out.append(feature("zone-tunnel-xuejiadao", "胶州湾隧道 薛家岛端 危险货物运输车禁行区",
                       "restricted", TUNNEL_XUEJIADAO, classes=["hazmat"]))
    for ref, name, (lon, lat) in SCHOOLS:
        out.append(feature(ref, name, "speed", circle(lon, lat, SCHOOL_RADIUS_M),
                           speed_limit=30))
    out.append(feature("speed-jzw-expressway", "胶州湾高速 限速区", "speed",
                       corridor(geo.ROADS["jzw_expressway"], 40), speed_limit=EXPRESSWAY_LIMITS))
    out.append(feature("speed-qingyin-expressway", "青银高速(G20) 限速区", "speed",
                       corridor(geo.ROADS["qingyin_expressway"], 40),
                       speed_limit=EXPRESSWAY_LIMITS))
    for ref, name, geom in WATCH:
        out.append(feature(ref, name, "watch", geom))
    return out


def school_speed_cap(lon: float, lat: float) -> float | None:
    """A considerate driver's speed near schools (just under the 30 km/h limit)."""
    x, y = to_xy(lon, lat)
    for _ref, _name, (slon, slat) in SCHOOLS:
        sx, sy = to_xy(slon, slat)
        if math.hypot(x - sx, y - sy) < SCHOOL_RADIUS_M + 60:
            return 26.0
    return None


def site_point(ref: str) -> tuple[float, float]:
    return next(p for r, _n, p, _h in SITES if r == ref)


def route_coords(ref: str) -> list[tuple[float, float]]:
    return next(list(c) for r, _n, c, _b in MUCK_ROUTES + BUS_ROUTES if r == ref)


__all__ = ["Point", "geofences", "part_of", "route_coords", "school_speed_cap", "site_point"]
