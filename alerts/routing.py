"""Who an incident goes to (contract §6): the district where it happened (the
vehicle's home district when outside all), that district's on-duty officer by
roster (else its responsible officer), its supervisor, and the vehicle's own
responsible officer (责任到人)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from alerts.roster import on_duty_officer
from geo.districts import DistrictIndex
from registry.lookup import DistrictRecord, VehicleRecord

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")  # KEYWATCH_TZ's default
DEFAULT_COOLDOWN_S = 300.0  # KEYWATCH_INCIDENT_COOLDOWN's default


@dataclass(frozen=True, slots=True)
class Route:
    district: str | None
    officer: str | None
    supervisor: str | None
    responsible: str | None = None  # the vehicle's responsible officer
    district_name: str | None = None

    def officers(self) -> list[str]:
        """The officers told at once: the district's, and the vehicle's when different."""
        return list(dict.fromkeys(b for b in (self.officer, self.responsible) if b))


class Router:
    """Immutable: the owner builds a new one when districts change and swaps it.

    Rosters are read per routed incident (``session``), so a roster change takes
    effect at once; incidents are rare next to fixes, so that query is cheap.
    """

    def __init__(self, districts: list[DistrictRecord], tz: tzinfo | None = None,
                 cooldown_s: float = DEFAULT_COOLDOWN_S) -> None:
        self.districts = {d.code: d for d in districts}
        self.index = DistrictIndex([(d.code, d.geometry) for d in districts])
        self.tz = tz or DEFAULT_TZ
        # a repeat (vehicle, rule, zone) within this of the last one updates it, silently
        self.cooldown_s = cooldown_s

    def district_at(self, lon: np.ndarray, lat: np.ndarray) -> list[str | None]:
        return self.index.lookup(lon, lat)

    def route(self, district: str | None, vehicle: VehicleRecord, *,
              session: Session | None = None, at: datetime | None = None,
              rosters: dict[str, list] | None = None) -> Route:
        code = district if district in self.districts else vehicle.home_district
        record = self.districts.get(code) if code else None
        if record is None:
            return Route(code, vehicle.officer, None, vehicle.officer)
        officer = record.officer or vehicle.officer
        if session is not None and at is not None:
            officer = on_duty_officer(session, district=record.code,
                                      local=at.astimezone(self.tz), cache=rosters) or officer
        return Route(record.code, officer, record.supervisor, vehicle.officer, record.name)
