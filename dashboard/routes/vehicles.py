"""/api/v1/vehicles — key vehicles (scoped: a company sees its own fleet, 404 for others'),
with latest positions; admin writes; the track of one vehicle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, text

from dashboard.deps import CurrentUser, SessionDep, SettingsDep, local_time, parse_plate
from dashboard.routes.registry_api import (
    ERRORS,
    WRITE_ERRORS,
    AdminOnly,
    Offset,
    Removed,
    found,
    page,
    refuse_existing,
    removed,
    same_key,
    sort_help,
    store,
)
from dashboard.scope import scoped, vehicles_visible
from ingest.models import VehicleState
from keywatch.errors import Invalid
from registry import fleet
from registry.checks import check_vehicles
from registry.models import Vehicle
from registry.schemas import VehicleClass, VehicleIn, VehicleStatus

router = APIRouter(prefix="/api/v1/vehicles", tags=["vehicles"])


class Position(BaseModel):
    ts: datetime | None
    lat: float
    lon: float
    speed: float | None
    heading: float | None
    ign: bool | None
    district: str | None


class VehicleOut(BaseModel):
    plate: str = Field(description="normalised plate, e.g. 鲁B12345")
    vehicle_class: str
    company: str | None
    device_id: str | None
    home_district: str | None
    officer: str | None
    status: str = Field(description="active or suspended")
    position: Position | None
    vin: str | None = None
    permit_until: date | None = None
    routes: list[str] = Field(default=[], description="approved route geofence refs")
    sites: list[str] = Field(default=[], description="approved site geofence refs")


SORTABLE = {"plate": Vehicle.plate, "vehicle_class": Vehicle.vehicle_class,
            "company": Vehicle.company_code, "home_district": Vehicle.home_district,
            "permit_until": Vehicle.permit_until, "status": Vehicle.status,
            "created_at": Vehicle.created_at}


def _out(vehicle: Vehicle, state: VehicleState | None, tz: Any,
         grants: dict[str, list[str]] | None = None) -> VehicleOut:
    position = None
    if state is not None and state.lat is not None:
        position = Position(ts=state.last_ts.astimezone(tz) if state.last_ts else None,
                            lat=state.lat, lon=state.lon, speed=state.speed,
                            heading=state.heading, ign=state.ign, district=state.district)
    return VehicleOut(plate=vehicle.plate, vehicle_class=vehicle.vehicle_class,
                      company=vehicle.company_code, device_id=vehicle.device_id,
                      home_district=vehicle.home_district, officer=vehicle.officer_badge,
                      status=vehicle.status, position=position, vin=vehicle.vin,
                      permit_until=vehicle.permit_until, **(grants or {}))


def _query(user: CurrentUser):  # type: ignore[no-untyped-def]
    query = select(Vehicle, VehicleState).outerjoin(
        VehicleState, VehicleState.vehicle_id == Vehicle.id)
    return scoped(query, vehicles_visible(user))


@router.get("", response_model=list[VehicleOut], responses=ERRORS)
def list_vehicles(
    session: SessionDep, user: CurrentUser, settings: SettingsDep, response: Response,
    vehicle_class: VehicleClass | None = None,
    company: str | None = None, home_district: str | None = None,
    status: VehicleStatus | None = None,
    device_id: str | None = None,
    q: Annotated[str | None, Query(description="plate contains this text")] = None,
    permit_expires_before: date | None = None,
    sort: str = sort_help(SORTABLE, "plate"),
    limit: Annotated[int, Query(ge=1, le=100000, description="page size")] = 1000,
    offset: Offset = 0,
) -> list[VehicleOut]:
    """The visible fleet with latest positions, filtered, sorted and paged
    (total in ``X-Total-Count``)."""
    query = _query(user)
    for column, value in ((Vehicle.vehicle_class, vehicle_class), (Vehicle.company_code, company),
                          (Vehicle.home_district, home_district), (Vehicle.status, status),
                          (Vehicle.device_id, device_id)):
        if value is not None:
            query = query.where(column == value)
    if q:
        query = query.where(Vehicle.plate.contains(q.strip().upper(), autoescape=True))
    if permit_expires_before:
        query = query.where(Vehicle.permit_until < permit_expires_before)
    rows = page(session, query, response, sortable=SORTABLE, sort=sort, limit=limit,
                offset=offset)
    grants = fleet.grants_of(session, [v.id for v, _ in rows]) if len(rows) <= 1000 else {}
    return [_out(v, s, settings.zone, grants.get(v.id)) for v, s in rows]


def visible_vehicle(session: SessionDep, user: CurrentUser, plate: str) -> tuple:
    row = session.execute(_query(user).where(Vehicle.plate == parse_plate(plate))).first()
    return found(row, f"vehicle {plate}")


def _detail(session: SessionDep, vehicle: Vehicle, state: Any, tz: Any) -> VehicleOut:
    return _out(vehicle, state, tz, fleet.grants_of(session, [vehicle.id]).get(vehicle.id))


@router.get("/{plate}", response_model=VehicleOut, responses=ERRORS)
def get_vehicle(plate: str, session: SessionDep, user: CurrentUser,
                settings: SettingsDep) -> VehicleOut:
    """One vehicle by plate (any spelling: 鲁b·12345); 404 if not visible to the caller."""
    vehicle, state = visible_vehicle(session, user, plate)
    return _detail(session, vehicle, state, settings.zone)


def _save(session: SessionDep, record: VehicleIn, settings: SettingsDep) -> VehicleOut:
    store(session, record, check_vehicles, partial(fleet.upsert_vehicles, now=datetime.now(UTC)))
    vehicle = session.scalar(select(Vehicle).where(Vehicle.plate == record.plate))
    return _detail(session, vehicle, session.get(VehicleState, vehicle.id), settings.zone)


@router.post("", response_model=VehicleOut, status_code=201, responses=WRITE_ERRORS,
             dependencies=[AdminOnly])
def create_vehicle(record: VehicleIn, session: SessionDep, settings: SettingsDep) -> VehicleOut:
    """Register a vehicle (admin). 409 if the plate exists or its terminal is in use."""
    refuse_existing(session.scalar(select(Vehicle.id).where(Vehicle.plate == record.plate)),
                    f"plate: vehicle {record.plate} already exists; PUT to change it")
    return _save(session, record, settings)


@router.put("/{plate}", response_model=VehicleOut, responses=WRITE_ERRORS,
            dependencies=[AdminOnly])
def replace_vehicle(plate: str, record: VehicleIn, session: SessionDep,
                    settings: SettingsDep) -> VehicleOut:
    """Replace a vehicle's registration (admin). Re-binding its terminal keeps the old
    binding's history: past fixes stay with the vehicle that sent them."""
    plate = parse_plate(plate)
    same_key(record.plate, plate,
             f"plate: the body's plate {record.plate} differs from the path's {plate}")
    found(session.scalar(select(Vehicle.id).where(Vehicle.plate == plate)), f"vehicle {plate}")
    return _save(session, record, settings)


@router.delete("/{plate}", response_model=Removed, responses=WRITE_ERRORS,
               dependencies=[AdminOnly])
def delete_vehicle(plate: str, session: SessionDep) -> Removed:
    """Delete a vehicle (admin); one with fixes, incidents or inspections is suspended
    and its terminal unbound instead."""
    vehicle = found(session.scalar(select(Vehicle).where(Vehicle.plate == parse_plate(plate))),
                    f"vehicle {plate}")
    return removed(session, partial(fleet.remove_vehicle, now=datetime.now(UTC)), vehicle)


@router.get("/{plate}/track", responses=ERRORS)
def get_track(plate: str, start: datetime, end: datetime, session: SessionDep,
              user: CurrentUser, settings: SettingsDep) -> dict[str, Any]:
    """The vehicle's fixes in [start, end] as a GeoJSON FeatureCollection of points."""
    vehicle, _ = visible_vehicle(session, user, plate)
    start, end = (local_time(t, settings.zone) for t in (start, end))
    if end <= start:
        raise Invalid("end must be after start")
    if end - start > timedelta(days=7):
        raise Invalid("a track covers at most 7 days; narrow start/end")
    rows = session.execute(text(
        "SELECT ts, ST_X(geom), ST_Y(geom), speed, heading, flags FROM fixes "
        "WHERE vehicle_id = :v AND ts BETWEEN :s AND :e ORDER BY ts LIMIT 200000"),
        {"v": vehicle.id, "s": start, "e": end})
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"ts": ts.astimezone(settings.zone).isoformat(), "speed": speed,
                        "heading": heading, "flags": flags or []}}
        for ts, lon, lat, speed, heading, flags in rows
    ]
    return {"type": "FeatureCollection", "features": features,
            "properties": {"plate": vehicle.plate, "start": start.isoformat(),
                           "end": end.isoformat(), "count": len(features)}}
