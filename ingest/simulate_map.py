"""The simulator's road map, built from the sample city (``sample_tracks/``).

Nodes are the sample routes' vertices, the muck sites, random points inside
every district and points inside the expressway corridors; edges join near
neighbours only where the straight segment stays on land at least
``COAST_MARGIN_M`` from the shore, so no trip ever crosses Jiaozhou Bay (trips
between 黄岛 and downtown go round the bay's north shore). Geometry is in a
local equirectangular plane (metres): cheap enough for the per-fix hot path and
within ~2 % of true distances over the whole municipality.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import LineString, Point, shape
from shapely.ops import unary_union

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_tracks"
LON0, LAT0 = 120.3, 36.2
KX = 111_320.0 * math.cos(math.radians(LAT0))  # metres per degree of longitude
KY = 110_574.0  # metres per degree of latitude
COAST_MARGIN_M = 60.0
NODES_PER_DISTRICT = 28
NODES_PER_EXPRESSWAY = 40
NEIGHBOURS = 9
EXPRESSWAY_COST = 0.45  # an expressway metre costs less time: trips prefer them
MAP_SEED = 808


def to_xy(lon: float, lat: float) -> tuple[float, float]:
    return (lon - LON0) * KX, (lat - LAT0) * KY


def to_lonlat(x: float, y: float) -> tuple[float, float]:
    return LON0 + x / KX, LAT0 + y / KY


def _plane(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda c: np.column_stack(
        ((c[:, 0] - LON0) * KX, (c[:, 1] - LAT0) * KY)))


@dataclass(frozen=True, slots=True)
class Zone:
    ref: str
    kind: str
    classes: frozenset[str]
    geometry: shapely.Geometry  # plane metres
    limit: dict[str, float] | float | None = None

    def applies(self, vehicle_class: str) -> bool:
        return not self.classes or vehicle_class in self.classes


@dataclass
class CityMap:
    districts: dict[str, shapely.Geometry]  # code → plane polygon
    zones: list[Zone]
    nodes: np.ndarray  # (n, 2) plane metres
    node_district: list[str | None]
    edges: dict[int, list[tuple[int, float]]]  # node → [(node, cost)]
    banned: dict[str, set[tuple[int, int]]]  # class → edges through its restricted zones
    sites: list[tuple[str, int]]  # (ref, node) muck sites
    routes: dict[str, list[int]]  # ref → node ids along a sample route
    _trees: dict[tuple[str, int], dict[int, int]] = field(default_factory=dict)
    _components: dict[str, frozenset[int]] = field(default_factory=dict)
    _areas: dict[tuple[str, float], shapely.Geometry] = field(default_factory=dict)

    # -- look-ups -------------------------------------------------------------
    def nodes_in(self, code: str) -> list[int]:
        return [i for i, d in enumerate(self.node_district) if d == code]

    def zone_nodes(self, ref: str) -> list[int]:
        zone = next(z for z in self.zones if z.ref == ref)
        inside = shapely.contains_xy(zone.geometry, self.nodes[:, 0], self.nodes[:, 1])
        return [int(i) for i in np.flatnonzero(inside) if self.edges.get(int(i))]

    def restricted_for(self, vehicle_class: str) -> list[Zone]:
        return [z for z in self.zones if z.kind == "restricted" and z.applies(vehicle_class)]

    def zone_area(self, zone: Zone, margin_m: float) -> shapely.Geometry:
        """The zone grown by ``margin_m`` (shrunk if negative), prepared; built once."""
        area = self._areas.get((zone.ref, margin_m))
        if area is None:
            area = self._areas[(zone.ref, margin_m)] = zone.geometry.buffer(margin_m)
            shapely.prepare(area)
        return area

    def lawful_nodes(self, vehicle_class: str) -> frozenset[int]:
        """The nodes a class can reach from each other without entering its restricted
        zones: the largest component of the graph without its banned edges (nodes
        inside a zone, or cut off by one, are not in it)."""
        nodes = self._components.get(vehicle_class)
        if nodes is None:
            banned = self.banned.get(vehicle_class, set())
            lawful = {a: [(b, c) for b, c in nbrs if (a, b) not in banned]
                      for a, nbrs in self.edges.items()}
            nodes = self._components[vehicle_class] = frozenset(_largest_component(lawful))
        return nodes

    # -- routing ----------------------------------------------------------------
    def path(self, src: int, dst: int, vehicle_class: str, *, obey: bool = True) -> list[int]:
        """Node ids from ``src`` to ``dst`` (fastest), avoiding the class's restricted zones."""
        key = (vehicle_class if obey else "*", src)
        tree = self._trees.get(key)
        if tree is None:
            tree = self._trees[key] = self._dijkstra(src, self.banned.get(key[0], set()))
        if dst not in tree and dst != src:
            return [src]
        out = [dst]
        while out[-1] != src:
            out.append(tree[out[-1]])
        return out[::-1]

    def _dijkstra(self, src: int, banned: set[tuple[int, int]]) -> dict[int, int]:
        best = {src: 0.0}
        parent: dict[int, int] = {}
        heap = [(0.0, src)]
        while heap:
            cost, node = heapq.heappop(heap)
            if cost > best[node]:
                continue
            for nxt, step in self.edges.get(node, ()):
                if (node, nxt) in banned:
                    continue
                total = cost + step
                if total < best.get(nxt, math.inf):
                    best[nxt], parent[nxt] = total, node
                    heapq.heappush(heap, (total, nxt))
        return parent


def _load(name: str) -> list[dict]:
    return json.loads((SAMPLE_DIR / name).read_text(encoding="utf-8"))["features"]


def _zone(feature: dict) -> Zone:
    p = feature["properties"]
    return Zone(p["ref"], p["kind"], frozenset(p.get("classes") or ()),
                _plane(shape(feature["geometry"])), p.get("speed_limit"))


def _random_points(area: shapely.Geometry, count: int, rng: random.Random) -> list[tuple]:
    x0, y0, x1, y1 = area.bounds
    out: list[tuple[float, float]] = []
    for _ in range(count * 200):
        if len(out) == count:
            break
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if shapely.contains_xy(area, x, y):
            out.append((x, y))
    return out


def build_map(seed: int = MAP_SEED) -> CityMap:
    """The road graph; deterministic for a seed (every simulator process builds the same)."""
    rng = random.Random(seed)
    districts = {f["properties"]["code"]: _plane(shape(f["geometry"]))
                 for f in _load("districts.geojson")}
    inland = unary_union(list(districts.values())).buffer(-COAST_MARGIN_M)
    shapely.prepare(inland)
    fences = _load("geofences.geojson")
    zones = [_zone(f) for f in fences if f["properties"]["kind"] != "route"]
    points: list[tuple[float, float]] = []
    route_points: dict[str, list[int]] = {}
    for f in fences:
        if f["properties"]["kind"] == "route":
            ids = []
            for lon, lat in f["geometry"]["coordinates"]:
                ids.append(len(points))
                points.append(to_xy(lon, lat))
            route_points[f["properties"]["ref"]] = ids
    site_points = []
    for zone in zones:
        if zone.kind == "site":
            site_points.append((zone.ref, len(points)))
            points.append(zone.geometry.centroid.coords[0])
        if zone.ref.startswith("speed-") and "expressway" in zone.ref:
            points += _random_points(zone.geometry.intersection(inland), NODES_PER_EXPRESSWAY, rng)
    for code in sorted(districts):
        points += _random_points(districts[code].intersection(inland), NODES_PER_DISTRICT, rng)
    nodes = np.array(points, dtype=float)
    on_land = shapely.contains_xy(inland, nodes[:, 0], nodes[:, 1])
    edges = _edges(nodes, on_land, route_points, inland, zones)
    node_district = [next((c for c, g in districts.items()
                           if shapely.contains_xy(g, x, y)), None) for x, y in nodes]
    banned = {cls: _banned(edges, nodes, [z for z in zones if z.kind == "restricted"
                                          and cls in z.classes])
              for cls in ("muck_truck", "hazmat")}
    return CityMap(districts, zones, nodes, node_district, edges, banned,
                   [(ref, i) for ref, i in site_points if edges.get(i)],
                   {ref: [i for i in ids if edges.get(i)] for ref, ids in route_points.items()})


def _edges(nodes: np.ndarray, on_land: np.ndarray, routes: dict[str, list[int]],
           inland: shapely.Geometry, zones: list[Zone]) -> dict[int, list[tuple[int, float]]]:
    pairs: set[tuple[int, int]] = set()
    land_ids = np.flatnonzero(on_land)
    for i in land_ids:
        d = np.hypot(*(nodes[land_ids] - nodes[i]).T)
        for j in land_ids[np.argsort(d)[1:NEIGHBOURS + 1]]:
            pairs.add((min(i, j), max(i, j)))
    for ids in routes.values():
        pairs.update((min(a, b), max(a, b)) for a, b in zip(ids, ids[1:], strict=False)
                     if on_land[a] and on_land[b])
    candidates = sorted(pairs)
    lines = [LineString([nodes[a], nodes[b]]) for a, b in candidates]
    keep = shapely.contains(inland, lines)
    fast = unary_union([z.geometry for z in zones if "expressway" in z.ref])
    edges: dict[int, list[tuple[int, float]]] = {}
    for (a, b), line, ok in zip(candidates, lines, keep, strict=True):
        if not ok:
            continue
        cost = line.length * (EXPRESSWAY_COST if fast.contains(line.centroid) else 1.0)
        edges.setdefault(int(a), []).append((int(b), cost))
        edges.setdefault(int(b), []).append((int(a), cost))
    return _largest_component(edges)


def _largest_component(edges: dict[int, list[tuple[int, float]]]) -> dict[int, list]:
    seen: set[int] = set()
    best: set[int] = set()
    for start in edges:
        if start in seen:
            continue
        group, stack = {start}, [start]
        while stack:
            for nxt, _ in edges[stack.pop()]:
                if nxt not in group:
                    group.add(nxt)
                    stack.append(nxt)
        seen |= group
        best = max(best, group, key=len)
    return {n: nbrs for n, nbrs in edges.items() if n in best}


def _banned(edges: dict[int, list[tuple[int, float]]], nodes: np.ndarray,
            restricted: list[Zone]) -> set[tuple[int, int]]:
    if not restricted:
        return set()
    area = unary_union([z.geometry for z in restricted]).buffer(30.0)
    out = set()
    for a, nbrs in edges.items():
        for b, _ in nbrs:
            if area.intersects(LineString([nodes[a], nodes[b]])) or area.contains(Point(nodes[a])):
                out.add((a, b))
    return out
