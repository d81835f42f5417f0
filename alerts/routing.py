"""Who an incident goes to (contract §6): the officer of the district where it
happened (the vehicle's home district when outside all), its supervisor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.districts import DistrictIndex
from registry.lookup import DistrictRecord, VehicleRecord


@dataclass(frozen=True, slots=True)
class Route:
    district: str | None
    officer: str | None
    supervisor: str | None


class Router:
    """Immutable: the owner builds a new one when districts change and swaps it."""

    def __init__(self, districts: list[DistrictRecord]) -> None:
        self.districts = {d.code: d for d in districts}
        self.index = DistrictIndex([(d.code, d.geometry) for d in districts])

    def district_at(self, lon: np.ndarray, lat: np.ndarray) -> list[str | None]:
        return self.index.lookup(lon, lat)

    def route(self, district: str | None, vehicle: VehicleRecord) -> Route:
        code = district if district in self.districts else vehicle.home_district
        record = self.districts.get(code) if code else None
        if record is None:
            return Route(code, vehicle.officer, None)
        return Route(code, record.officer or vehicle.officer, record.supervisor)
