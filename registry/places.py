"""Districts and geofences: validated input, writes, and the never-lose-history rule.

A district is ``{code, name, geometry, officer, supervisor}`` (contract §4) with a
valid WGS-84 Polygon or MultiPolygon. A geofence is a contract §4 GeoJSON
Feature, validated by ``geo.fences.fence_from_feature``; every change (and a
removal, which only deactivates it) bumps ``updated_at`` so ingest workers
reload their fence index.
"""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from pydantic import BaseModel, ConfigDict, Field, field_validator
from shapely.geometry import MultiPolygon, shape
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from geo.fences import fence_from_feature
from keywatch.errors import Conflict, Invalid
from registry.models import District, Geofence, Officer
from registry.schemas import Badge, DistrictCode
from registry.validation import normalise_plate


def district_geometry(raw: Any) -> MultiPolygon:
    """A GeoJSON Polygon/MultiPolygon in WGS-84 degrees, valid as drawn, as a MultiPolygon."""
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("geometry must be a GeoJSON Polygon or MultiPolygon object")
    try:
        geom = shapely.force_2d(shape(raw))
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise ValueError(f"geometry is not valid GeoJSON: {exc}") from exc
    if geom.is_empty or geom.area <= 0:
        raise ValueError("geometry encloses no area")
    coords = shapely.get_coordinates(geom)
    if not ((abs(coords[:, 0]) <= 180) & (abs(coords[:, 1]) <= 90)).all():
        raise ValueError("coordinates must be [lon, lat] in WGS-84 degrees")
    if not geom.is_valid:
        raise ValueError(f"geometry is invalid: {shapely.is_valid_reason(geom)}")
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


class DistrictIn(BaseModel):
    """A police district (辖区): administrative division code, name, boundary, officers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    code: DistrictCode
    name: str = Field(min_length=1, max_length=50)
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, WGS-84")
    officer: Badge | None = Field(default=None, description="responsible officer's badge")
    supervisor: Badge | None = Field(default=None, description="supervisor's badge")

    @field_validator("geometry")
    @classmethod
    def _valid_geometry(cls, raw: dict[str, Any]) -> dict[str, Any]:
        district_geometry(raw)
        return raw


def save_district(session: Session, record: DistrictIn) -> District:
    for field, badge, role in (("officer", record.officer, None),
                               ("supervisor", record.supervisor, "supervisor")):
        if badge is None:
            continue
        officer = session.get(Officer, badge)
        if officer is None or not officer.active:
            raise Invalid(f"{field}: unknown or deactivated officer badge {badge!r}")
        if role and officer.role != role:
            raise Invalid(f"{field}: officer {badge} is not a supervisor")
    district = session.get(District, record.code) or District(code=record.code)
    district.name = record.name
    district.geom = from_shape(district_geometry(record.geometry), srid=4326)
    district.officer_badge, district.supervisor_badge = record.officer, record.supervisor
    session.add(district)
    session.flush()
    return district


def remove_district(session: Session, district: District) -> None:
    """Districts have no active flag: one that vehicles, incidents or fixes name stays."""
    for table, column in (("vehicles", "home_district"), ("incidents", "district"),
                          ("fixes", "district")):
        sql = text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = :c)")
        if session.execute(sql, {"c": district.code}).scalar_one():
            raise Conflict(f"district {district.code} is referenced by {table}; "
                           "it cannot be deleted (history is kept)")
    session.execute(text("DELETE FROM officer_districts WHERE district = :c"),
                    {"c": district.code})
    session.delete(district)


def save_geofence(session: Session, feature: dict[str, Any],
                  fence_id: int | None = None) -> Geofence:
    """Create (``fence_id`` None) or replace a geofence from a GeoJSON Feature."""
    fence = fence_from_feature(feature, id=fence_id or 0)
    try:
        plates = sorted({normalise_plate(p) for p in fence.plates})
    except ValueError as exc:
        raise Invalid(f"properties.plates: {exc}") from exc
    row = session.get(Geofence, fence_id) if fence_id else Geofence()
    if row is None:
        raise Invalid(f"no geofence {fence_id}")  # callers check existence first
    if fence.ref is not None:
        holder = session.scalar(select(Geofence.id).where(Geofence.ref == fence.ref))
        if holder is not None and holder != fence_id:
            raise Conflict(f"properties.ref: geofence {holder} already has ref {fence.ref!r}")
    props = feature["properties"]
    row.ref, row.name, row.kind = fence.ref, fence.name, fence.kind
    row.classes, row.plates = sorted(fence.classes), plates
    row.schedule, row.speed_limit = props.get("schedule"), props.get("speed_limit")
    row.buffer_m = fence.buffer_m
    row.geom = from_shape(fence.geometry, srid=4326)
    row.active = True
    row.updated_at = func.now()
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def deactivate_geofence(session: Session, row: Geofence) -> None:
    """Never deleted: incidents name fences by id. Deactivation reloads the workers."""
    row.active = False
    row.updated_at = func.now()
    session.flush()
