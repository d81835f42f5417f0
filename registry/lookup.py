"""Read-side lookups the ingest worker and dispatcher need, cached per process."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Integer, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from registry.models import Vehicle, VehicleGrant


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """What an incident needs to know about the vehicle a device speaks for."""

    vehicle_id: int
    plate: str
    vehicle_class: str
    device_id: str
    company: str | None
    home_district: str | None
    officer: str | None
    granted: frozenset[int]


def vehicles_for_devices(session: Session, device_ids: list[str]) -> dict[str, VehicleRecord]:
    """Active vehicles bound to these terminals, with their approved routes/sites.

    Columns, not ORM entities: the ingest worker re-reads every vehicle it hears from
    once per ``DeviceCache.ttl_s`` (50,000 vehicles: ~1,700 rows a second), and an
    entity costs several times a row in identity-map and attribute bookkeeping."""
    rows = session.execute(
        # one array parameter, not one per device: any number of devices fits
        select(Vehicle.id, Vehicle.plate, Vehicle.vehicle_class, Vehicle.device_id,
               Vehicle.company_code, Vehicle.home_district, Vehicle.officer_badge).where(
            Vehicle.device_id == any_(bindparam("devices", list(device_ids),
                                                type_=ARRAY(String))),
            Vehicle.status == "active")
    ).all()
    grants: dict[int, set[int]] = {}
    if rows:
        ids = [row[0] for row in rows]
        for vehicle_id, fence_id in session.execute(
            select(VehicleGrant.vehicle_id, VehicleGrant.geofence_id).where(
                VehicleGrant.vehicle_id == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
            )
        ):
            grants.setdefault(vehicle_id, set()).add(fence_id)
    return {
        device_id: VehicleRecord(
            vehicle_id=vehicle_id,
            plate=plate,
            vehicle_class=vehicle_class,
            device_id=device_id,
            company=company,
            home_district=district,
            officer=officer,
            granted=frozenset(grants.get(vehicle_id, ())),
        )
        for vehicle_id, plate, vehicle_class, device_id, company, district, officer in rows
        if device_id
    }


class DeviceCache:
    """device_id → VehicleRecord, refreshed after ``ttl_s``; unknown ids re-checked
    after ``negative_ttl_s`` so a newly registered terminal is accepted quickly."""

    def __init__(self, ttl_s: float = 30.0, negative_ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self._known: dict[str, tuple[float, VehicleRecord | None]] = {}

    def resolve(self, session: Session, device_ids: set[str]) -> dict[str, VehicleRecord]:
        now = time.monotonic()
        stale = [d for d in device_ids if self._is_stale(d, now)]
        if stale:
            found = vehicles_for_devices(session, stale)
            for device_id in stale:
                self._known[device_id] = (now, found.get(device_id))
        result = {}
        for device_id in device_ids:
            record = self._known[device_id][1]
            if record is not None:
                result[device_id] = record
        return result

    def _is_stale(self, device_id: str, now: float) -> bool:
        entry = self._known.get(device_id)
        if entry is None:
            return True
        ttl = self.ttl_s if entry[1] is not None else self.negative_ttl_s
        return now - entry[0] > ttl

    def clear(self) -> None:
        self._known.clear()


@dataclass(frozen=True, slots=True)
class DistrictRecord:
    code: str
    name: str
    geometry: object  # shapely (Multi)Polygon, WGS-84
    officer: str | None
    supervisor: str | None


def load_districts(session: Session) -> list[DistrictRecord]:
    from geoalchemy2.shape import to_shape

    from registry.models import District

    return [
        DistrictRecord(d.code, d.name, to_shape(d.geom), d.officer_badge, d.supervisor_badge)
        for d in session.execute(select(District).order_by(District.code)).scalars()
    ]


def load_fences(session: Session) -> list:
    """Active geofences as ``geo.fences.Fence`` objects (validated the one way)."""
    from geoalchemy2.shape import to_shape
    from shapely.geometry import mapping

    from geo.fences import fence_from_feature
    from registry.models import Geofence

    fences = []
    for row in session.execute(select(Geofence).where(Geofence.active)).scalars():
        fences.append(
            fence_from_feature(geofence_feature(row, mapping(to_shape(row.geom))), id=row.id)
        )
    return fences


def geofence_feature(row: object, geometry: dict) -> dict:
    """A geofence row as the contract §4 GeoJSON Feature."""
    properties = {
        "ref": row.ref,
        "name": row.name,
        "kind": row.kind,  # type: ignore[attr-defined]
        "classes": list(row.classes or []),
        "plates": list(row.plates or []),  # type: ignore[attr-defined]
    }
    for key in ("schedule", "speed_limit", "buffer_m"):
        value = getattr(row, key)
        if value is not None:
            properties[key] = value
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": geometry,  # type: ignore[attr-defined]
        "properties": properties,
    }
