"""/api/v1/vehicles — the fleet with latest positions (scoped), one vehicle, its track."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select, text

from dashboard.deps import CurrentUser, SessionDep, SettingsDep, parse_plate
from dashboard.scope import vehicles_visible
from ingest.models import VehicleState
from keywatch.errors import Invalid, NotFound
from registry.models import Vehicle

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
    plate: str
    vehicle_class: str
    company: str | None
    device_id: str | None
    home_district: str | None
    officer: str | None
    status: str
    position: Position | None


def _out(vehicle: Vehicle, state: VehicleState | None, tz: Any) -> VehicleOut:
    position = None
    if state is not None and state.lat is not None:
        position = Position(ts=state.last_ts.astimezone(tz) if state.last_ts else None,
                            lat=state.lat, lon=state.lon, speed=state.speed,
                            heading=state.heading, ign=state.ign, district=state.district)
    return VehicleOut(plate=vehicle.plate, vehicle_class=vehicle.vehicle_class,
                      company=vehicle.company_code, device_id=vehicle.device_id,
                      home_district=vehicle.home_district, officer=vehicle.officer_badge,
                      status=vehicle.status, position=position)


def _query(user: CurrentUser):  # type: ignore[no-untyped-def]
    query = select(Vehicle, VehicleState).outerjoin(
        VehicleState, VehicleState.vehicle_id == Vehicle.id)
    visible = vehicles_visible(user)
    return query.where(visible) if visible is not None else query


@router.get("", response_model=list[VehicleOut])
def list_vehicles(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                  vehicle_class: str | None = None, company: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=100000)] = 1000,
                  offset: Annotated[int, Query(ge=0)] = 0) -> list[VehicleOut]:
    query = _query(user)
    if vehicle_class:
        query = query.where(Vehicle.vehicle_class == vehicle_class)
    if company:
        query = query.where(Vehicle.company_code == company)
    rows = session.execute(query.order_by(Vehicle.plate).limit(limit).offset(offset))
    return [_out(v, s, settings.zone) for v, s in rows]


def visible_vehicle(session: SessionDep, user: CurrentUser, plate: str) -> tuple:
    row = session.execute(_query(user).where(Vehicle.plate == parse_plate(plate))).first()
    if row is None:
        raise NotFound(f"vehicle {plate} not found")
    return row


@router.get("/{plate}", response_model=VehicleOut)
def get_vehicle(plate: str, session: SessionDep, user: CurrentUser,
                settings: SettingsDep) -> VehicleOut:
    vehicle, state = visible_vehicle(session, user, plate)
    return _out(vehicle, state, settings.zone)


@router.get("/{plate}/track")
def get_track(plate: str, start: datetime, end: datetime, session: SessionDep,
              user: CurrentUser, settings: SettingsDep) -> dict[str, Any]:
    """The vehicle's fixes in [start, end] as a GeoJSON FeatureCollection of points."""
    vehicle, _ = visible_vehicle(session, user, plate)
    start, end = (t if t.tzinfo else t.replace(tzinfo=settings.zone) for t in (start, end))
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
