"""/api/v1/districts and /api/v1/geofences as GeoJSON; admin writes.

Districts are ``{code, name, geometry, officer, supervisor}`` in and GeoJSON
Features out. Geofences are contract §4 Features both ways; a change or a
removal (deactivation — incidents name fences by id) reloads ingest workers.
A company account sees a fence's ``plates`` only where they are its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, Field
from shapely.geometry import mapping
from sqlalchemy import any_, func, literal, select

from dashboard.deps import CurrentUser, SessionDep
from dashboard.routes.registry_api import (
    ERRORS,
    WRITE_ERRORS,
    AdminOnly,
    IntId,
    Offset,
    Removed,
    committing,
    found,
    page,
    refuse_existing,
    same_key,
    sort_help,
)
from dashboard.scope import vehicles_visible
from registry.lookup import geofence_feature
from registry.models import District, Geofence, Vehicle
from registry.places import (
    DistrictIn,
    deactivate_geofence,
    remove_district,
    save_district,
    save_geofence,
)

router = APIRouter(prefix="/api/v1", tags=["places"])


class Feature(BaseModel):
    type: str = "Feature"
    id: int | str | None = None
    geometry: dict[str, Any] = Field(description="GeoJSON geometry, WGS-84 [lon, lat]")
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: str = "FeatureCollection"
    features: list[Feature]


DISTRICT_SORT = {"code": District.code, "name": District.name}
FENCE_SORT = {"id": Geofence.id, "name": Geofence.name, "kind": Geofence.kind,
              "ref": Geofence.ref, "updated_at": Geofence.updated_at}


def district_feature(d: District) -> dict[str, Any]:
    return {"type": "Feature", "id": d.code, "geometry": mapping(to_shape(d.geom)),
            "properties": {"code": d.code, "name": d.name, "officer": d.officer_badge,
                           "supervisor": d.supervisor_badge}}


def districts_geojson(session: SessionDep) -> dict[str, Any]:
    features = [district_feature(d)
                for d in session.scalars(select(District).order_by(District.code))]
    return {"type": "FeatureCollection", "features": features}


def fence_feature(g: Geofence) -> dict[str, Any]:
    feature = geofence_feature(g, mapping(to_shape(g.geom)))
    feature["properties"]["active"] = g.active
    return feature


def geofences_geojson(session: SessionDep) -> dict[str, Any]:
    features = [
        geofence_feature(g, mapping(to_shape(g.geom)))
        for g in session.scalars(select(Geofence).where(Geofence.active).order_by(Geofence.id))
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/districts", response_model=FeatureCollection, responses=ERRORS,
            tags=["districts"])
def list_districts(session: SessionDep, user: CurrentUser, response: Response,
                   officer: str | None = None, sort: str = sort_help(DISTRICT_SORT, "code"),
                   limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 1000,
                   offset: Offset = 0) -> dict[str, Any]:
    """Districts as a GeoJSON FeatureCollection, sorted and paged (``X-Total-Count``)."""
    query = select(District)
    if officer:
        query = query.where((District.officer_badge == officer)
                            | (District.supervisor_badge == officer))
    rows = page(session, query, response, sortable=DISTRICT_SORT, sort=sort, limit=limit,
                offset=offset)
    return {"type": "FeatureCollection", "features": [district_feature(d) for (d,) in rows]}


@router.get("/districts/{code}", response_model=Feature, responses=ERRORS, tags=["districts"])
def get_district(code: str, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return district_feature(found(session.get(District, code), f"district {code}"))


@router.post("/districts", response_model=Feature, status_code=201, responses=WRITE_ERRORS,
             dependencies=[AdminOnly], tags=["districts"])
def create_district(record: DistrictIn, session: SessionDep) -> dict[str, Any]:
    """Create a district (admin): a valid WGS-84 Polygon/MultiPolygon and its officers."""
    refuse_existing(session.get(District, record.code),
                    f"code: district {record.code} already exists; PUT to change it")
    with committing(session):
        district = save_district(session, record)
    return district_feature(district)


@router.put("/districts/{code}", response_model=Feature, responses=WRITE_ERRORS,
            dependencies=[AdminOnly], tags=["districts"])
def replace_district(code: str, record: DistrictIn, session: SessionDep) -> dict[str, Any]:
    same_key(record.code, code,
             f"code: the body's code {record.code} differs from the path's {code}")
    found(session.get(District, code), f"district {code}")
    with committing(session):
        district = save_district(session, record)
    return district_feature(district)


@router.delete("/districts/{code}", response_model=Removed, responses=WRITE_ERRORS,
               dependencies=[AdminOnly], tags=["districts"])
def delete_district(code: str, session: SessionDep) -> Removed:
    """Delete a district (admin); 409 when vehicles, incidents or fixes refer to it."""
    district = found(session.get(District, code), f"district {code}")
    with committing(session):
        remove_district(session, district)
    return Removed(result="deleted")


def _own_plates(session: SessionDep, user: CurrentUser) -> set[str] | None:
    scope = vehicles_visible(user)
    if scope is None:
        return None
    return set(session.scalars(select(Vehicle.plate).where(scope)))


@router.get("/geofences", response_model=FeatureCollection, responses=ERRORS,
            tags=["geofences"])
def list_geofences(session: SessionDep, user: CurrentUser, response: Response,
                   kind: str | None = None, vehicle_class: str | None = None,
                   active: bool | None = True, sort: str = sort_help(FENCE_SORT, "id"),
                   limit: Annotated[int, Query(ge=1, le=10000, description="page size")] = 10000,
                   offset: Offset = 0) -> dict[str, Any]:
    """Geofences (contract §4 Features), active ones by default; paged (``X-Total-Count``)."""
    query = select(Geofence)
    if active is not None:
        query = query.where(Geofence.active == active)
    if kind:
        query = query.where(Geofence.kind == kind)
    if vehicle_class:
        everyone = func.cardinality(Geofence.classes) == 0
        query = query.where((literal(vehicle_class) == any_(Geofence.classes)) | everyone)
    rows = page(session, query, response, sortable=FENCE_SORT, sort=sort, limit=limit,
                offset=offset)
    own = _own_plates(session, user)
    features = [fence_feature(g) for (g,) in rows]
    if own is not None:
        for f in features:
            f["properties"]["plates"] = [p for p in f["properties"]["plates"] if p in own]
    return {"type": "FeatureCollection", "features": features}


def _fence(session: SessionDep, fence_id: int) -> Geofence:
    return found(session.get(Geofence, fence_id), f"geofence {fence_id}")


@router.get("/geofences/{fence_id}", response_model=Feature, responses=ERRORS,
            tags=["geofences"])
def get_geofence(fence_id: IntId, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    feature = fence_feature(_fence(session, fence_id))
    own = _own_plates(session, user)
    if own is not None:
        feature["properties"]["plates"] = [p for p in feature["properties"]["plates"]
                                           if p in own]
    return feature


@router.post("/geofences", response_model=Feature, status_code=201, responses=WRITE_ERRORS,
             dependencies=[AdminOnly], tags=["geofences"])
def create_geofence(feature: Annotated[dict[str, Any], Body(
        description="a contract §4 GeoJSON Feature")], session: SessionDep) -> dict[str, Any]:
    """Create a geofence (admin) from a GeoJSON Feature; invalid geometry → 422."""
    with committing(session):
        fence = save_geofence(session, feature)
    return fence_feature(fence)


@router.put("/geofences/{fence_id}", response_model=Feature, responses=WRITE_ERRORS,
            dependencies=[AdminOnly], tags=["geofences"])
def replace_geofence(fence_id: IntId, feature: Annotated[dict[str, Any], Body()],
                     session: SessionDep) -> dict[str, Any]:
    """Replace a geofence (admin); reactivates a removed one. Workers reload it."""
    _fence(session, fence_id)
    with committing(session):
        fence = save_geofence(session, feature, fence_id)
    return fence_feature(fence)


@router.delete("/geofences/{fence_id}", response_model=Removed, responses=WRITE_ERRORS,
               dependencies=[AdminOnly], tags=["geofences"])
def delete_geofence(fence_id: IntId, session: SessionDep) -> Removed:
    """Remove a geofence (admin): it is deactivated, never deleted (incidents name it)."""
    fence = _fence(session, fence_id)
    with committing(session):
        deactivate_geofence(session, fence)
    return Removed(result="deactivated")
