"""/api/v1/districts and /api/v1/geofences as GeoJSON (read side; writes in the registry issue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlalchemy import select

from dashboard.deps import CurrentUser, SessionDep
from registry.lookup import geofence_feature
from registry.models import District, Geofence

router = APIRouter(prefix="/api/v1", tags=["places"])


def districts_geojson(session: SessionDep) -> dict[str, Any]:
    features = [
        {"type": "Feature", "id": d.code, "geometry": mapping(to_shape(d.geom)),
         "properties": {"code": d.code, "name": d.name, "officer": d.officer_badge,
                        "supervisor": d.supervisor_badge}}
        for d in session.scalars(select(District).order_by(District.code))
    ]
    return {"type": "FeatureCollection", "features": features}


def geofences_geojson(session: SessionDep) -> dict[str, Any]:
    features = [
        geofence_feature(g, mapping(to_shape(g.geom)))
        for g in session.scalars(select(Geofence).where(Geofence.active).order_by(Geofence.id))
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/districts")
def list_districts(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return districts_geojson(session)


@router.get("/geofences")
def list_geofences(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return geofences_geojson(session)
