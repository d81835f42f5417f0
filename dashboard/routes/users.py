"""Accounts, created only by an admin (or ``keywatch user add``): no self-registration."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from dashboard.deps import SessionDep, require_roles
from registry.accounts import ROLES, create_user
from registry.models import User

router = APIRouter(prefix="/api/v1/users", tags=["users"],
                   dependencies=[require_roles("admin")])


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=50, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: str = Field(description=", ".join(ROLES))
    company: str | None = Field(None, description="company code, for role company")
    officer: str | None = Field(None, description="badge, for officers and supervisors")


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    company: str | None
    officer: str | None
    active: bool
    created_at: datetime


def _out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, role=user.role,
                   company=user.company_code, officer=user.officer_badge, active=user.active,
                   created_at=user.created_at)


@router.post("", response_model=UserOut, status_code=201)
def add_user(body: UserIn, session: SessionDep) -> UserOut:
    user = create_user(session, username=body.username, password=body.password,
                       role=body.role, company_code=body.company, officer_badge=body.officer)
    session.commit()
    session.refresh(user)
    return _out(user)


@router.get("", response_model=list[UserOut])
def list_users(session: SessionDep) -> list[UserOut]:
    return [_out(user) for user in session.scalars(select(User).order_by(User.id))]
