"""POST /api/v1/auth/token — OAuth2 password flow returning a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from dashboard.deps import CurrentUser, SessionDep, SettingsDep
from dashboard.security import COOKIE, issue_token
from keywatch.errors import Unauthorized
from registry.accounts import authenticate

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


@router.post("/token", response_model=Token)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep, response: Response) -> Token:
    user = authenticate(session, username=form.username, password=form.password)
    if user is None:
        raise Unauthorized("wrong username or password")
    access = issue_token(secret=settings.secret_key, user_id=user.id, username=user.username,
                         role=user.role, token_version=user.token_version,
                         ttl_s=settings.token_ttl)
    # The browser's EventSource cannot send headers: the page uses this cookie.
    response.set_cookie(COOKIE, access, max_age=int(settings.token_ttl), httponly=True,
                        samesite="strict", secure=settings.production)
    return Token(access_token=access, expires_in=int(settings.token_ttl), role=user.role)


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
def logout(response: Response) -> Response:
    response.delete_cookie(COOKIE)
    response.status_code = 204
    return response
