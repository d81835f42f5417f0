"""WGS-84 <-> a metric CRS, vectorised.

Corridors (``buffer_m``) and distances must be computed in metres, so every
geometry that needs them is projected once. The default is EPSG:4549
(CGCS2000 / 3-degree Gauss-Kruger, central meridian 120E -- note EPSG:4547 is
the CM 114E zone), whose scale error
around Qingdao is far below GPS noise. Transformers are cached because
building one costs far more than transforming a batch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo.errors import GeoError

DEFAULT_CRS = "EPSG:4549"
WGS84 = "EPSG:4326"


@lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    try:
        return Transformer.from_crs(CRS.from_user_input(source), CRS.from_user_input(target),
                                    always_xy=True)
    except CRSError as exc:
        raise GeoError(f"unknown coordinate reference system: {source!r} or {target!r}") from exc


def check_crs(crs: str) -> str:
    """Validate a CRS string early (e.g. at settings load) and return it unchanged."""
    _transformer(WGS84, crs)
    return crs


def to_metric(lon: np.ndarray, lat: np.ndarray,
              crs: str = DEFAULT_CRS) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS-84 degrees to metres in ``crs`` with one array transform."""
    x, y = _transformer(WGS84, crs).transform(np.asarray(lon, dtype=float),
                                              np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def to_wgs84(x: np.ndarray, y: np.ndarray,
             crs: str = DEFAULT_CRS) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_metric`: metres in ``crs`` back to lon/lat degrees."""
    lon, lat = _transformer(crs, WGS84).transform(np.asarray(x, dtype=float),
                                                  np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def geometry_to_metric(geometry: BaseGeometry, crs: str = DEFAULT_CRS) -> BaseGeometry:
    """Project a shapely geometry (all its vertices in one transform call)."""
    return shapely.transform(geometry, lambda x, y: to_metric(x, y, crs),
                             interleaved=False)


def geometry_to_wgs84(geometry: BaseGeometry, crs: str = DEFAULT_CRS) -> BaseGeometry:
    """Project a metric shapely geometry back to WGS-84 (e.g. a corridor for display)."""
    return shapely.transform(geometry, lambda x, y: to_wgs84(x, y, crs),
                             interleaved=False)
