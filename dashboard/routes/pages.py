"""HTML pages (login, live map, statistics, company portal) and the two JSON reads
the map page needs beyond the public API: a compact snapshot of the fleet (50,000
vehicles in one small response) and the vehicle card. Both are scoped like
``/api/v1/vehicles``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import extract, select

from alerts.models import Incident
from dashboard.deps import CurrentUser, SessionDep, SettingsDep
from dashboard.livemap import BAR, render_map
from dashboard.routes.places import districts_geojson, geofences_geojson
from dashboard.routes.vehicles import visible_vehicle
from dashboard.scope import incidents_visible, scoped, vehicles_visible
from dashboard.security import COOKIE, REFRESH_COOKIE, read_token
from ingest.models import VehicleState
from registry.models import Company, Driver, Inspection, Vehicle

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
SNAPSHOT_FIELDS = ("plate", "class", "company", "district", "lat", "lon", "speed", "heading",
                   "ign", "ts")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, expired: int = 0) -> Response:
    message = ("登录已过期，请重新登录 · Your session expired; please sign in again"
               if expired else "")
    return templates.TemplateResponse(request, "login.html", {"message": message})


def _signed_in(request: Request, settings: SettingsDep) -> dict[str, Any] | RedirectResponse:
    """The token's claims, or a redirect to the login page (with a message if it expired)."""
    token = request.cookies.get(COOKIE)
    try:
        return read_token(token or "", secret=settings.secret_key)
    except jwt.InvalidTokenError:
        if request.cookies.get(REFRESH_COOKIE):
            return HTMLResponse(_RENEW)  # renew the short-lived access token, then reload
        return RedirectResponse("/login" + ("?expired=1" if token else ""), status_code=303)


_RENEW = """<!doctype html><meta charset="utf-8"><title>Keywatch</title>
<script>
fetch("/api/v1/auth/refresh", {method: "POST", credentials: "same-origin"})
  .then(r => { window.location = r.ok ? window.location.href : "/login?expired=1"; });
</script>"""


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    claims = _signed_in(request, settings)
    if isinstance(claims, Response):
        return claims
    html = render_map(districts_geojson(session), geofences_geojson(session),
                      tile_url=settings.tile_url)
    return HTMLResponse(html)


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, settings: SettingsDep) -> Response:
    claims = _signed_in(request, settings)
    if isinstance(claims, Response):
        return claims
    return templates.TemplateResponse(request, "stats.html",
                                      {"bar": BAR, "tile_url": settings.tile_url})


@router.get("/portal", response_class=HTMLResponse)
def portal_page(request: Request, settings: SettingsDep) -> Response:
    claims = _signed_in(request, settings)
    if isinstance(claims, Response):
        return claims
    return templates.TemplateResponse(request, "portal.html", {"bar": BAR})


@router.get("/ui/map/vehicles")
def map_snapshot(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Active vehicles with a position, as columns + rows (what the map draws first)."""
    query = (
        select(Vehicle.plate, Vehicle.vehicle_class, Vehicle.company_code, VehicleState.district,
               VehicleState.lat, VehicleState.lon, VehicleState.speed, VehicleState.heading,
               VehicleState.ign, (extract("epoch", VehicleState.last_ts) * 1000))
        .join(VehicleState, VehicleState.vehicle_id == Vehicle.id)
        .where(Vehicle.status == "active", VehicleState.lat.is_not(None))
    )
    query = scoped(query, vehicles_visible(user))
    rows = [
        [plate, cls, company, district, lat, lon, speed, heading, ign,
         int(ts) if ts is not None else None]
        for plate, cls, company, district, lat, lon, speed, heading, ign, ts
        in session.execute(query)
    ]
    return {"fields": SNAPSHOT_FIELDS, "rows": rows}


@router.get("/ui/vehicles/{plate}/card")
def vehicle_card(plate: str, session: SessionDep, user: CurrentUser,
                 settings: SettingsDep) -> dict[str, Any]:
    """Plate, class, company, driver, speed, last fix, open incidents, this month's inspection."""
    vehicle, state = visible_vehicle(session, user, plate)
    driver = session.get(Driver, vehicle.driver_licence) if vehicle.driver_licence else None
    company = session.get(Company, vehicle.company_code) if vehicle.company_code else None
    incidents = select(Incident).where(Incident.vehicle_id == vehicle.id,
                                       Incident.status != "resolved")
    incidents = scoped(incidents, incidents_visible(user))
    month = datetime.now(settings.zone).strftime("%Y-%m")
    inspection = session.scalar(select(Inspection).where(
        Inspection.vehicle_id == vehicle.id, Inspection.month == month,
        Inspection.superseded_at.is_(None)))
    return {
        "plate": vehicle.plate, "vehicle_class": vehicle.vehicle_class,
        "company": vehicle.company_code, "company_name": company.name if company else None,
        "driver": f"{driver.name} ({driver.licence_no})" if driver else None,
        "speed": state.speed if state else None,
        "last_fix": state.last_ts.astimezone(settings.zone).isoformat()
        if state and state.last_ts else None,
        "district": state.district if state else vehicle.home_district,
        "open_incidents": [
            {"id": i.id, "rule": i.rule, "severity": i.severity, "status": i.status,
             "started_at": i.started_at.astimezone(settings.zone).isoformat()}
            for i in session.scalars(incidents.order_by(Incident.started_at.desc()).limit(20))
        ],
        "inspection": {
            "month": month, "required": vehicle.vehicle_class == "muck_truck",
            "done": inspection is not None,
            "inspected_on": inspection.inspected_on.isoformat() if inspection else None,
        },
    }
