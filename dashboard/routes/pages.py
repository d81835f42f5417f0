"""HTML pages: the login form and the live map."""

from __future__ import annotations

from pathlib import Path

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dashboard.deps import SessionDep, SettingsDep
from dashboard.livemap import render_map
from dashboard.routes.places import districts_geojson, geofences_geojson
from dashboard.security import COOKIE, read_token

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, expired: int = 0) -> Response:
    message = "登录已过期，请重新登录" if expired else ""
    return templates.TemplateResponse(request, "login.html", {"message": message})


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    token = request.cookies.get(COOKIE)
    try:
        read_token(token or "", secret=settings.secret_key)
    except jwt.InvalidTokenError:
        return RedirectResponse("/login" + ("?expired=1" if token else ""), status_code=303)
    html = render_map(districts_geojson(session), geofences_geojson(session),
                      tile_url=settings.tile_url)
    return HTMLResponse(html)
