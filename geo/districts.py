"""District lookup (administrative division code for each point), vectorised.

Districts are tested in WGS-84 directly: point-in-polygon does not need
metres, and this matches PostGIS ``ST_Covers`` on the stored 4326 geometry.
Where districts overlap (bad data), the first one given wins, deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import GeoError


class DistrictIndex:
    """Immutable index of ``(code, geometry)`` pairs; rebuild it on change."""

    def __init__(self, items: Sequence[tuple[str, BaseGeometry]]) -> None:
        self.codes: list[str] = []
        geoms: list[BaseGeometry] = []
        for code, geom in items:
            if not isinstance(code, str) or not code:
                raise GeoError(f"district code must be a non-empty string, got {code!r}")
            if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise GeoError(f"district {code} needs a Polygon or MultiPolygon geometry")
            self.codes.append(code)
            geoms.append(geom if geom.is_valid else shapely.make_valid(geom))
        shapely.prepare(geoms)
        self._tree = shapely.STRtree(geoms)

    def lookup(self, lon: np.ndarray, lat: np.ndarray) -> list[str | None]:
        """The district code containing each point, ``None`` outside all districts."""
        lon = np.asarray(lon, dtype=float)
        n = lon.shape[0]
        if n == 0 or not self.codes:
            return [None] * n
        points = shapely.points(lon, np.asarray(lat, dtype=float))
        point_idx, geom_idx = self._tree.query(points, predicate="intersects")
        first = np.full(n, -1, dtype=np.int64)
        # Reverse order so that, on overlaps, the lowest district index is written last.
        order = np.lexsort((-geom_idx, point_idx))
        first[point_idx[order]] = geom_idx[order]
        codes = self.codes
        return [codes[i] if i >= 0 else None for i in first.tolist()]
