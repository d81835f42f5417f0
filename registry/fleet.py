"""Writing vehicles: bulk upsert by plate, approved routes/sites, terminal bindings.

One code path serves a single API write and a 40,000-row import: records are
COPYed into a temporary staging table and upserted with one ``INSERT … SELECT …
ON CONFLICT (plate)``, their grants replaced in bulk, and terminal re-bindings
recorded in
``device_bindings`` (the old binding gets ``unbound_at``), so every stored fix
keeps the vehicle it belonged to (fixes carry ``vehicle_id``).
Callers run ``registry.checks.check_vehicles`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from registry.models import DeviceBinding, Geofence, Vehicle, VehicleGrant
from registry.schemas import VehicleIn
from registry.sql import any_of

Progress = Callable[[int, int], None]
CHUNK = 4000  # rows per COPY batch / executemany call (and per progress report)
_SEP = "\x1f"  # joins geofence refs in the staging table (no ref holds a control char)

_STAGE = """
DROP TABLE IF EXISTS pg_temp.kw_stage_vehicles;
CREATE TEMP TABLE kw_stage_vehicles (
    plate varchar(12) PRIMARY KEY, vin varchar(17), vehicle_class varchar(20),
    company_code varchar(40), device_id varchar(32), home_district varchar(6),
    officer_badge varchar(20), permit_until date, status varchar(12),
    refs text, moved boolean) ON COMMIT DROP
"""
_COLUMNS = ("plate", "vin", "vehicle_class", "company_code", "device_id", "home_district",
            "officer_badge", "permit_until", "status")
_COLS = ", ".join(_COLUMNS)
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "plate")
_RELEASE = (
    # free terminals that move, so the one-active-vehicle-per-terminal index never trips
    # half-way (two vehicles may swap terminals); a suspended vehicle still holding a
    # terminal now given to another vehicle loses it
    "UPDATE vehicles v SET device_id = NULL FROM kw_stage_vehicles s "
    " WHERE v.plate = s.plate AND s.moved AND v.device_id IS NOT NULL",
    "UPDATE vehicles v SET device_id = NULL WHERE v.device_id IN "
    " (SELECT device_id FROM kw_stage_vehicles WHERE device_id IS NOT NULL)"
    " AND v.plate NOT IN (SELECT plate FROM kw_stage_vehicles)",
)
_UPSERT = (f"INSERT INTO vehicles ({_COLS}) SELECT {_COLS} FROM kw_stage_vehicles "
           f"ON CONFLICT (plate) DO UPDATE SET {_UPDATES} RETURNING (xmax = 0)")
_AFTER = (
    "DELETE FROM vehicle_grants WHERE vehicle_id IN (SELECT v.id FROM vehicles v "
    " JOIN kw_stage_vehicles s USING (plate))",
    "INSERT INTO vehicle_grants (vehicle_id, geofence_id) SELECT DISTINCT v.id, g.id "
    " FROM kw_stage_vehicles s JOIN vehicles v USING (plate) "
    " CROSS JOIN LATERAL unnest(string_to_array(s.refs, chr(31))) AS r(ref) "
    " JOIN geofences g ON g.ref = r.ref WHERE s.refs <> ''",
    # re-bound terminals: close the old bindings (of the vehicle and of the terminal) …
    "UPDATE device_bindings SET unbound_at = :now WHERE unbound_at IS NULL AND ("
    " vehicle_id IN (SELECT v.id FROM vehicles v JOIN kw_stage_vehicles s USING (plate) "
    "  WHERE s.moved) OR device_id IN (SELECT device_id FROM kw_stage_vehicles "
    "  WHERE moved AND device_id IS NOT NULL))",
    # … and open the new ones
    "INSERT INTO device_bindings (device_id, vehicle_id, bound_at) "
    " SELECT s.device_id, v.id, :now FROM kw_stage_vehicles s JOIN vehicles v USING (plate) "
    " WHERE s.moved AND s.device_id IS NOT NULL",
)


@dataclass(frozen=True, slots=True)
class Upserted:
    created: int
    updated: int


def _row(r: VehicleIn, moved: bool) -> tuple[Any, ...]:
    refs = _SEP.join(dict.fromkeys((*r.routes, *r.sites)))
    return (r.plate, r.vin, r.vehicle_class, r.company, r.device_id, r.home_district,
            r.officer, r.permit_until, r.status, refs, moved)


def upsert_vehicles(session: Session, records: Sequence[VehicleIn], *, now: datetime,
                    progress: Progress | None = None) -> Upserted:
    """Insert or update vehicles by plate, with grants and terminal bindings."""
    plates = [r.plate for r in records]
    before = dict(session.execute(select(Vehicle.plate, Vehicle.device_id).where(
        any_of(Vehicle.plate, plates))).all()) if plates else {}
    session.execute(text(_STAGE))
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
            f"COPY kw_stage_vehicles ({_COLS}, refs, moved) FROM STDIN") as copy:
        for start in range(0, len(records), CHUNK):
            for r in records[start:start + CHUNK]:
                moved = r.plate not in before or before[r.plate] != r.device_id
                copy.write_row(_row(r, moved))
            if progress:  # staging is about half the work
                progress(min(start + CHUNK, len(records)) // 2, len(records))
    for sql in _RELEASE:
        session.execute(text(sql))
    created = sum(session.execute(text(_UPSERT)).scalars())
    for sql in _AFTER:
        session.execute(text(sql), {"now": now})
    if progress:
        progress(len(records), len(records))
    return Upserted(created=created, updated=len(records) - created)


def grants_of(session: Session, vehicle_ids: Sequence[int]) -> dict[int, dict[str, list[str]]]:
    """Approved routes and sites (geofence refs) of each vehicle."""
    out: dict[int, dict[str, list[str]]] = {}
    if not vehicle_ids:
        return out
    rows = session.execute(
        select(VehicleGrant.vehicle_id, Geofence.kind, Geofence.ref, Geofence.id)
        .join(Geofence, Geofence.id == VehicleGrant.geofence_id)
        .where(any_of(VehicleGrant.vehicle_id, list(vehicle_ids))).order_by(Geofence.ref))
    for vehicle_id, kind, ref, fence_id in rows:
        key = "routes" if kind == "route" else "sites"
        out.setdefault(vehicle_id, {"routes": [], "sites": []})[key].append(ref or str(fence_id))
    return out


_HISTORY_SQL = text(
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM fixes WHERE vehicle_id = :v LIMIT 1) f)"
    " + (SELECT count(*) FROM (SELECT 1 FROM incidents WHERE vehicle_id = :v LIMIT 1) i)"
    " + (SELECT count(*) FROM (SELECT 1 FROM inspections WHERE vehicle_id = :v LIMIT 1) n)"
    " + (SELECT count(*) FROM (SELECT 1 FROM tacho_events WHERE vehicle_id = :v LIMIT 1) t)"
)


def remove_vehicle(session: Session, vehicle: Vehicle, *, now: datetime) -> str:
    """Delete a vehicle without history; one with fixes, incidents, inspections or
    tachograph events is suspended instead (history is never lost).
    Returns ``"deleted"`` or ``"deactivated"``."""
    if session.execute(_HISTORY_SQL, {"v": vehicle.id}).scalar_one():
        vehicle.status = "suspended"
        session.execute(update(DeviceBinding).where(
            DeviceBinding.vehicle_id == vehicle.id, DeviceBinding.unbound_at.is_(None),
        ).values(unbound_at=now))
        vehicle.device_id = None
        return "deactivated"
    session.execute(delete(VehicleGrant).where(VehicleGrant.vehicle_id == vehicle.id))
    session.execute(delete(DeviceBinding).where(DeviceBinding.vehicle_id == vehicle.id))
    session.execute(text("DELETE FROM vehicle_state WHERE vehicle_id = :v"), {"v": vehicle.id})
    session.delete(vehicle)
    return "deleted"
