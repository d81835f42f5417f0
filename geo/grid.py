"""A coarse lon/lat raster of where fences may be: the membership pre-filter.

Most fixes are in no fence at all. A point whose cell no fence touches is
outside every fence, so it can skip the projection, the point construction and
the tree query; the cell test is two array divisions and one lookup. The grid
only ever says "maybe" or "certainly not": cells are marked by intersecting
slightly enlarged cell boxes with each fence's area, so the exact answer still
comes from the tree, for every point it lets through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

CELL_DEG = 0.001  # ~100 m at Qingdao's latitude
MAX_CELLS = 2_000_000  # a larger extent gets coarser cells, never more memory
# Cells are enlarged by this much before the intersection test, so that the few
# centimetres between a metric edge and its lon/lat image never lose a point.
MARGIN_DEG = 1e-4


class CellGrid:
    """``maybe(lon, lat)``: False where no area (WGS-84) can contain the point."""

    def __init__(self, areas: Sequence[BaseGeometry]) -> None:
        bounds = shapely.bounds(np.asarray(areas, dtype=object)).reshape(-1, 4)
        self.x0, self.y0 = bounds[:, 0].min() - MARGIN_DEG, bounds[:, 1].min() - MARGIN_DEG
        width = bounds[:, 2].max() + MARGIN_DEG - self.x0
        height = bounds[:, 3].max() + MARGIN_DEG - self.y0
        self.cell = max(CELL_DEG, float(np.sqrt(width * height / MAX_CELLS)))
        self.nx = int(width / self.cell) + 1
        self.ny = int(height / self.cell) + 1
        self.mask = np.zeros(self.ny * self.nx, dtype=bool)
        cells = self._candidate_cells(bounds)
        iy, ix = np.divmod(cells, self.nx)
        x, y = self.x0 + ix * self.cell, self.y0 + iy * self.cell
        boxes = shapely.box(x - MARGIN_DEG, y - MARGIN_DEG, x + self.cell + MARGIN_DEG,
                            y + self.cell + MARGIN_DEG)
        hits = shapely.STRtree(areas).query(boxes, predicate="intersects")[0]
        self.mask[cells[hits]] = True

    def _candidate_cells(self, bounds: np.ndarray) -> np.ndarray:
        """Flat indexes of every cell under some area's bounding box."""
        lo = self._cell_of(bounds[:, 0] - MARGIN_DEG, bounds[:, 1] - MARGIN_DEG)
        hi = self._cell_of(bounds[:, 2] + MARGIN_DEG, bounds[:, 3] + MARGIN_DEG)
        parts = []
        for (ix0, iy0), (ix1, iy1) in zip(lo.tolist(), hi.tolist(), strict=True):
            ys, xs = np.mgrid[iy0:iy1 + 1, ix0:ix1 + 1]
            parts.append((ys * self.nx + xs).ravel())
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def _cell_of(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        ix = np.clip(((lon - self.x0) / self.cell).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(((lat - self.y0) / self.cell).astype(np.int64), 0, self.ny - 1)
        return np.column_stack([ix, iy])

    def maybe(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        fx = (lon - self.x0) / self.cell
        fy = (lat - self.y0) / self.cell
        # NaN compares False: such a point is in no fence, as the tree would say.
        ok = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        out = np.zeros(lon.shape[0], dtype=bool)
        if ok.any():
            cell = fy[ok].astype(np.int64) * self.nx + fx[ok].astype(np.int64)
            out[ok] = self.mask[cell]
        return out
