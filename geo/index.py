"""The geofence index: which fences contain each point of a batch, vectorised.

Built once per geofence change (immutable; the owner swaps in a new one
atomically), queried per batch with one ``STRtree.query`` on the array of
points in a metric CRS, so a batch costs one projection and one tree query
instead of a Python loop over fixes x fences -- and only for the points a
coarse lon/lat grid (``geo.grid``) says may be in some fence at all. Routes are indexed as their
buffered corridor (``buffer_m`` metres either side of the centre line).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import DEFAULT_CRS, check_crs, geometry_to_metric, geometry_to_wgs84, to_metric
from geo.errors import GeoError
from geo.fences import Fence
from geo.grid import CellGrid

_EMPTY: tuple[int, ...] = ()


class FenceIndex:
    """Membership and distances for a fixed set of fences."""

    def __init__(self, fences: Sequence[Fence], crs: str = DEFAULT_CRS) -> None:
        self.crs = check_crs(crs)
        self.fences: dict[int, Fence] = {}
        for fence in fences:
            if fence.id in self.fences:
                raise GeoError(f"duplicate fence id {fence.id}")
            self.fences[fence.id] = fence
        self._ids = np.fromiter(self.fences, dtype=np.int64, count=len(self.fences))
        # Metric shapes: the centre line for routes, the area otherwise.
        self._shapes: dict[int, BaseGeometry] = {
            f.id: geometry_to_metric(f.geometry, self.crs) for f in self.fences.values()
        }
        self._areas = {f.id: self._area(f) for f in self.fences.values()}
        areas = list(self._areas.values())
        shapely.prepare(areas)
        self._tree = shapely.STRtree(areas)
        self._grid = CellGrid([f.geometry if f.kind != "route"
                               else geometry_to_wgs84(self._areas[f.id], self.crs)
                               for f in self.fences.values()]) if self.fences else None
        self.by_kind: dict[str, tuple[int, ...]] = {}
        self.by_plate: dict[str, tuple[int, ...]] = {}
        for f in self.fences.values():
            self.by_kind[f.kind] = (*self.by_kind.get(f.kind, ()), f.id)
            for plate in f.plates:
                self.by_plate[plate] = (*self.by_plate.get(plate, ()), f.id)
        self._union_cache: dict[frozenset[int], BaseGeometry] = {}

    def _area(self, fence: Fence) -> BaseGeometry:
        shape = self._shapes[fence.id]
        if fence.kind == "route":
            return shape.buffer(fence.buffer_m or 0.0, quad_segs=4)
        return shape

    def __len__(self) -> int:
        return len(self.fences)

    def containing(self, lon: np.ndarray, lat: np.ndarray) -> list[tuple[int, ...]]:
        """For each point, the ids (ascending) of the fences whose area covers it.

        Points on a boundary count as inside ("intersects"), matching PostGIS
        ``ST_Covers``; the rules' 15 s confirmation absorbs boundary noise.
        """
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        n = lon.shape[0]
        if n == 0 or self._grid is None:
            return [_EMPTY] * n
        near = np.flatnonzero(self._grid.maybe(lon, lat))  # the rest is in no fence
        if near.size == 0:
            return [_EMPTY] * n
        x, y = to_metric(lon[near], lat[near], self.crs)
        hits = self._tree.query(shapely.points(x, y), predicate="intersects")
        return _group(near[hits[0]], self._ids[hits[1]], n)

    def distance_m(self, fence_ids: Sequence[int], lon: np.ndarray,
                   lat: np.ndarray) -> np.ndarray:
        """Metres from each point to the nearest of ``fence_ids`` (route centre
        lines, area boundaries; 0 inside an area). ``inf`` when no ids are given."""
        lon = np.asarray(lon, dtype=float)
        key = frozenset(int(i) for i in fence_ids)
        if not key:
            return np.full(lon.shape, np.inf)
        missing = key - self.fences.keys()
        if missing:
            raise GeoError(f"unknown fence ids {sorted(missing)}")
        union = self._union_cache.get(key)
        if union is None:
            union = shapely.union_all([self._shapes[i] for i in sorted(key)])
            shapely.prepare(union)
            self._union_cache[key] = union
        x, y = to_metric(lon, lat, self.crs)
        return np.asarray(shapely.distance(shapely.points(x, y), union), dtype=float)

    def area_metric(self, fence_id: int) -> BaseGeometry:
        """The indexed (metric) area of a fence: a corridor for routes."""
        return self._areas[fence_id]


def _group(point_idx: np.ndarray, values: np.ndarray, n: int) -> list[tuple]:
    """Turn (point index, value) pairs into one sorted tuple per point."""
    out: list[tuple] = [_EMPTY] * n
    if point_idx.size == 0:
        return out
    order = np.lexsort((values, point_idx))
    point_idx, values = point_idx[order], values[order]
    starts = np.flatnonzero(np.r_[True, point_idx[1:] != point_idx[:-1]])
    bounds = np.r_[starts, point_idx.size].tolist()
    vals = values.tolist()
    for k, p in enumerate(point_idx[starts].tolist()):
        out[p] = tuple(vals[bounds[k]:bounds[k + 1]])
    return out
