"""Sign-in: short-lived access tokens, rotating refresh tokens, logout, password change.

``POST /token`` (OAuth2 password form) returns an access token (``access_token_ttl``,
default 15 min) and a refresh token (``refresh_token_ttl``), the latter stored hashed
so it can be revoked. Repeated failures lock a username+address out (429).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from dashboard import audit, ratelimit
from dashboard.deps import CurrentUser, SessionDep, SettingsDep
from dashboard.security import COOKIE, REFRESH_COOKIE, issue_token, read_token
from keywatch.errors import Unauthorized
from keywatch.settings import Settings
from registry import accounts
from registry.models import User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    role: str


def _tokens(response: Response, settings: Settings, user: User, refresh: str) -> Token:
    access = issue_token(secret=settings.secret_key, user_id=user.id, username=user.username,
                         role=user.role, token_version=user.token_version,
                         ttl_s=settings.access_token_ttl)
    # The browser's EventSource cannot send headers: the page uses these cookies.
    response.set_cookie(COOKIE, access, max_age=int(settings.access_token_ttl), httponly=True,
                        samesite="strict", secure=settings.production)
    response.set_cookie(REFRESH_COOKIE, refresh, max_age=int(settings.refresh_token_ttl),
                        httponly=True, samesite="strict", secure=settings.production,
                        path="/api/v1/auth")
    return Token(access_token=access, expires_in=int(settings.access_token_ttl),
                 refresh_token=refresh, refresh_expires_in=int(settings.refresh_token_ttl),
                 role=user.role)


def _too_many(retry_after: int) -> JSONResponse:
    return JSONResponse({"error": f"too many failed sign-ins; try again in {retry_after} s",
                         "status": 429}, status_code=429,
                        headers={"Retry-After": str(retry_after)})


@router.post("/token", response_model=Token,
             responses={401: {"description": "wrong username or password"},
                        429: {"description": "locked out after repeated failures"}})
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep, request: Request, response: Response) -> Token | JSONResponse:
    address = audit.client_address(request) or "unknown"

    def log(status: int, outcome: str, role: str | None = None) -> None:
        audit.write(request, action="login", actor=form.username[:50], role=role,
                    status=status, outcome=outcome)

    locked = ratelimit.locked_for(session, username=form.username, address=address)
    if locked:
        log(429, "locked")
        return _too_many(locked)
    user = accounts.authenticate(session, username=form.username, password=form.password)
    if user is None:
        locked = ratelimit.record_failure(session, settings, username=form.username,
                                          address=address)
        session.commit()
        log(401, "failed")
        if locked:
            return _too_many(locked)
        raise Unauthorized("wrong username or password")
    ratelimit.record_success(session, username=form.username, address=address)
    refresh = accounts.issue_refresh(session, user, ttl_s=settings.refresh_token_ttl)
    result = _tokens(response, settings, user, refresh)
    session.commit()
    log(200, "ok", user.role)
    return result


class RefreshIn(BaseModel):
    refresh_token: str | None = Field(None, description="or the kw_refresh cookie")


@router.post("/refresh", response_model=Token)
def refresh(session: SessionDep, settings: SettingsDep, request: Request, response: Response,
            body: Annotated[RefreshIn | None, Body()] = None) -> Token:
    """A new access token and a new refresh token; the presented refresh token is spent."""
    presented = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    if not presented:
        raise Unauthorized("no refresh token: send refresh_token or the kw_refresh cookie")
    try:
        user, new_refresh = accounts.rotate_refresh(session, presented,
                                                    ttl_s=settings.refresh_token_ttl)
    except Unauthorized as exc:
        session.commit()  # a reused token's family stays revoked
        audit.write(request, action="refresh", actor=None, role=None, status=401,
                    error=str(exc))
        raise
    result = _tokens(response, settings, user, new_refresh)
    session.commit()
    audit.write(request, action="refresh", actor=user.username, role=user.role, status=200)
    return result


class Me(BaseModel):
    username: str
    role: str
    company: str | None
    officer: str | None
    districts: list[str]


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(username=user.username, role=user.role, company=user.company,
              officer=user.officer, districts=sorted(user.districts))


@router.post("/logout", status_code=204)
def logout(session: SessionDep, settings: SettingsDep, request: Request,
           body: Annotated[RefreshIn | None, Body()] = None) -> Response:
    """Revokes the refresh token and every access token of the caller (when the access
    token is still valid); always clears the cookies."""
    presented = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    if presented:
        accounts.revoke_refresh(session, presented)
    user = _caller(request, session, settings)
    if user is not None:
        user.token_version += 1
    session.commit()
    audit.write(request, action="logout", actor=user.username if user else None,
                role=user.role if user else None, status=204)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE)
    response.delete_cookie(REFRESH_COOKIE, path="/api/v1/auth")
    return response


def _caller(request: Request, session: SessionDep, settings: Settings) -> User | None:
    header = request.headers.get("authorization", "")
    raw = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    try:
        claims = read_token(raw or "", secret=settings.secret_key)
        user = session.get(User, int(claims["sub"]))
    except Exception:  # noqa: BLE001 - an unusable token just means nobody to sign out
        return None
    return user if user is not None and user.token_version == claims["ver"] else None


class PasswordChange(BaseModel):
    current_password: str
    new_password: str = Field(min_length=8, max_length=200)


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> Response:
    """Sets a new password; every token of the account is revoked (sign in again)."""
    account = session.get(User, user.user_id)
    assert account is not None  # current_user just loaded it
    accounts.change_password(session, account, current=body.current_password,
                             new=body.new_password)
    session.commit()
    return Response(status_code=204)
