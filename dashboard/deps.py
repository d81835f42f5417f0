"""FastAPI dependencies: ``SessionDep``, ``CurrentUser``, role guards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import audit
from dashboard.scope import database_scope
from dashboard.security import COOKIE, Principal, read_token
from keywatch.db import NO_SCOPE, set_scope
from keywatch.errors import Forbidden, Invalid, Unauthorized
from keywatch.settings import Settings
from registry.models import OfficerDistrict, User
from registry.validation import normalise_plate

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's session, under row-level security as the non-owner role: it sees
    no company-scoped row until ``current_user`` sets the caller's scope."""
    with request.app.state.sessions() as session:
        set_scope(session, NO_SCOPE)
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def principal_for(session: Session, user: User) -> Principal:
    districts: set[str] = set()
    if user.officer_badge:
        districts = set(session.scalars(
            select(OfficerDistrict.district).where(OfficerDistrict.badge == user.officer_badge)))
    return Principal(user.id, user.username, user.role, user.company_code,
                     user.officer_badge, frozenset(districts))


def _principal(request: Request, session: Session, settings: Settings,
               token: str | None) -> Principal:
    token = token or request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("not signed in: send a bearer token from POST /api/v1/auth/token")
    try:
        claims = read_token(token, secret=settings.secret_key)
        user_id, version = int(claims["sub"]), claims["ver"]
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise Unauthorized("invalid or expired token; sign in again") from exc
    user = session.get(User, user_id)
    if user is None or not user.active or user.token_version != version:
        raise Unauthorized("token revoked; sign in again")
    if user.role != claims["role"]:
        raise Unauthorized("token out of date; sign in again")
    principal = principal_for(session, user)
    set_scope(session, database_scope(principal))
    return principal


def current_user(request: Request, session: SessionDep, settings: SettingsDep,
                 token: Annotated[str | None, Depends(oauth2)]) -> Iterator[Principal]:
    """The caller, from the bearer header or the ``kw_token`` cookie. Writes under
    /api/v1 are audited around the route (dashboard.audit), refused ones too."""
    write = audit.is_audited_write(request)
    try:
        principal = _principal(request, session, settings, token)
    except Unauthorized as exc:
        if write:
            audit.write(request, action="write", actor=None, role=None, status=401,
                        error=str(exc))
        raise
    if not write:
        yield principal
        return
    with audit.audited(request, principal):
        yield principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_roles(*roles: str):  # type: ignore[no-untyped-def]
    def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return user

    return Depends(check)


def parse_plate(value: str) -> str:
    """A plate from a path or query, normalised (鲁B·12345 → 鲁B12345), or 422."""
    try:
        return normalise_plate(value)
    except ValueError as exc:
        raise Invalid(f"plate {value!r}: {exc}") from exc


def local_time(value: datetime, zone: tzinfo) -> datetime:
    """A time from a query: one without an offset is local time (``KEYWATCH_TZ``)."""
    return value if value.tzinfo else value.replace(tzinfo=zone)
