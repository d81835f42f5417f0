"""``keywatch sample load``: the sample city from ``sample_tracks/`` into the registry.

Idempotent: loading twice updates rows by natural key (district code, badge,
company code, licence number, plate, geofence ref) instead of duplicating them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, shape
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from geo.fences import fence_from_feature
from registry.models import (
    Company,
    DeviceBinding,
    District,
    Driver,
    Geofence,
    Officer,
    OfficerDistrict,
    Vehicle,
    VehicleGrant,
)

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_tracks"


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            yield {k.strip(): (v or "").strip() for k, v in row.items()}


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def load_sample_city(session: Session, directory: Path = SAMPLE_DIR,
                     tz: str = "Asia/Shanghai") -> dict[str, int]:
    counts = {
        "officers": _load_officers(session, directory / "officers.csv"),
        "districts": _load_districts(session, directory / "districts.geojson",
                                     directory / "officers.csv"),
        "companies": _load_companies(session, directory / "companies.csv"),
        "drivers": _load_drivers(session, directory / "drivers.csv"),
        "geofences": _load_geofences(session, directory / "geofences.geojson"),
    }
    counts["vehicles"] = _load_vehicles(session, directory / "vehicles.csv")
    counts["inspections (last month)"] = _sample_inspections(session, tz)
    return counts


def _sample_inspections(session: Session, tz: str) -> int:
    """Last month's hazard inspections for 9 in 10 muck trucks, so the demo shows a few
    inspection_overdue incidents rather than one per truck. Dates are relative to today
    (local time), so the sample never goes stale; existing inspections are kept."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from registry.models import Inspection
    from registry.schemas import CHECKLIST_ITEMS

    today = datetime.now(ZoneInfo(tz)).date()
    month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    month = month_start.strftime("%Y-%m")
    done = set(session.scalars(select(Inspection.vehicle_id).where(Inspection.month == month)))
    trucks = session.scalars(select(Vehicle).where(Vehicle.vehicle_class == "muck_truck",
                                                   Vehicle.status == "active")
                             .order_by(Vehicle.plate)).all()
    added = 0
    for n, truck in enumerate(trucks):
        if n % 10 == 9 or truck.id in done:
            continue  # every tenth truck "forgot" its inspection
        items = dict.fromkeys(CHECKLIST_ITEMS, True)
        session.add(Inspection(vehicle_id=truck.id, month=month, inspector="企业安全员",
                               inspected_on=month_start + timedelta(days=n % 25),
                               items=items, hazards=None, photos=[]))
        added += 1
    session.flush()
    return added


def _load_officers(session: Session, path: Path) -> int:
    count = 0
    for row in _rows(path):
        session.merge(Officer(badge=row["badge"], name=row["name"], phone=row["phone"] or None,
                              email=row["email"] or None, role=row["role"], active=True))
        count += 1
    session.flush()
    return count


def _load_districts(session: Session, path: Path, officers_path: Path) -> int:
    collection = json.loads(path.read_text(encoding="utf-8"))
    officers: dict[str, dict[str, str]] = {}
    links = []
    for row in _rows(officers_path):
        for code in _split(row["districts"]):
            officers.setdefault(code, {}).setdefault(row["role"], row["badge"])
            links.append((row["badge"], code))
    for feature in collection["features"]:
        props = feature["properties"]
        geometry = shape(feature["geometry"])
        if geometry.geom_type == "Polygon":
            geometry = MultiPolygon([geometry])
        roles = officers.get(props["code"], {})
        session.merge(District(code=props["code"], name=props["name"],
                               geom=from_shape(geometry, srid=4326),
                               officer_badge=roles.get("officer"),
                               supervisor_badge=roles.get("supervisor")))
    session.flush()
    for badge, code in links:
        session.merge(OfficerDistrict(badge=badge, district=code))
    session.flush()
    return len(collection["features"])


def _load_companies(session: Session, path: Path) -> int:
    count = 0
    for row in _rows(path):
        session.merge(Company(code=row["code"], name=row["name"], kind=row["kind"],
                              licence_no=row["licence_no"] or None, contact=row["contact"] or None,
                              phone=row["phone"] or None, webhook_url=row["webhook_url"] or None,
                              email=row["email"] or None, sms=row["sms"] or None, active=True))
        count += 1
    session.flush()
    return count


def _qualifications(value: str) -> list[dict[str, str]]:
    out = []
    for part in _split(value):
        kind, _, expires = part.partition(":")
        out.append({"kind": kind, "expires": expires})
    return out


def _load_drivers(session: Session, path: Path) -> int:
    count = 0
    for row in _rows(path):
        session.merge(Driver(licence_no=row["licence_no"], name=row["name"],
                             phone=row["phone"] or None, company_code=row["company"] or None,
                             qualifications=_qualifications(row["qualifications"]), active=True))
        count += 1
    session.flush()
    return count


def _load_geofences(session: Session, path: Path) -> int:
    collection = json.loads(path.read_text(encoding="utf-8"))
    for feature in collection["features"]:
        fence = fence_from_feature(feature, id=0)  # validates; geometry repaired if needed
        props = feature["properties"]
        row = session.scalar(select(Geofence).where(Geofence.ref == props["ref"]))
        if row is None:
            row = Geofence(ref=props["ref"])
            session.add(row)
        row.name, row.kind = fence.name, fence.kind
        row.classes, row.plates = sorted(fence.classes), sorted(fence.plates)
        row.schedule = props.get("schedule")
        row.speed_limit = props.get("speed_limit")
        row.buffer_m = fence.buffer_m
        row.geom = from_shape(fence.geometry, srid=4326)
        row.active = True
    session.flush()
    return len(collection["features"])


def _load_vehicles(session: Session, path: Path) -> int:
    fences = {ref: id_ for ref, id_ in session.execute(select(Geofence.ref, Geofence.id))}
    count = 0
    for row in _rows(path):
        vehicle = session.scalar(select(Vehicle).where(Vehicle.plate == row["plate"]))
        if vehicle is None:
            vehicle = Vehicle(plate=row["plate"])
            session.add(vehicle)
        vehicle.vin, vehicle.vehicle_class = row["vin"] or None, row["vehicle_class"]
        vehicle.company_code = row["company"] or None
        vehicle.device_id = row["device_id"] or None
        vehicle.home_district = row["home_district"] or None
        vehicle.officer_badge = row["officer"] or None
        vehicle.driver_licence = row.get("driver") or None
        vehicle.permit_until = date.fromisoformat(row["permit_until"]) \
            if row.get("permit_until") else None
        vehicle.status = "active"
        session.flush()
        _bind(session, vehicle)
        session.execute(delete(VehicleGrant).where(VehicleGrant.vehicle_id == vehicle.id))
        for ref in _split(row.get("routes", "")) + _split(row.get("sites", "")):
            session.add(VehicleGrant(vehicle_id=vehicle.id, geofence_id=fences[ref]))
        count += 1
    session.flush()
    return count


def _bind(session: Session, vehicle: Vehicle) -> None:
    """Record the device binding once (history of which vehicle a terminal spoke for)."""
    if not vehicle.device_id:
        return
    current = session.scalar(select(DeviceBinding).where(
        DeviceBinding.device_id == vehicle.device_id, DeviceBinding.unbound_at.is_(None)))
    if current is None:
        session.add(DeviceBinding(device_id=vehicle.device_id, vehicle_id=vehicle.id))
