"""/api/v1/officers — police officers, their districts and duty rosters.

Police roles read; company accounts are refused (403); admin writes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from dashboard.deps import CurrentUser, SessionDep
from dashboard.routes.registry_api import (
    ERRORS,
    WRITE_ERRORS,
    AdminOnly,
    Limit,
    Offset,
    Removed,
    committing,
    found,
    matching,
    page,
    refuse_existing,
    removed,
    same_key,
    sort_help,
)
from dashboard.scope import sees_police_directory
from keywatch.errors import Forbidden
from registry import people
from registry.models import Officer, OfficerDistrict
from registry.schemas import OfficerIn, OfficerRole

router = APIRouter(prefix="/api/v1/officers", tags=["officers"])


def _police(user: CurrentUser) -> None:
    if not sees_police_directory(user):
        raise Forbidden("the officer directory is for police roles")


Police = Depends(_police)


class OfficerOut(BaseModel):
    badge: str
    name: str
    phone: str | None
    email: str | None
    role: str
    districts: list[str]
    roster: list[dict[str, Any]] | None
    active: bool


SORTABLE = {"badge": Officer.badge, "name": Officer.name, "role": Officer.role}


def _out(session: SessionDep, officers: list[Officer]) -> list[OfficerOut]:
    badges = [o.badge for o in officers]
    links: dict[str, list[str]] = {}
    for badge, code in session.execute(select(OfficerDistrict.badge, OfficerDistrict.district)
                                       .where(OfficerDistrict.badge.in_(badges))
                                       .order_by(OfficerDistrict.district)):
        links.setdefault(badge, []).append(code)
    return [OfficerOut(badge=o.badge, name=o.name, phone=o.phone, email=o.email, role=o.role,
                       districts=links.get(o.badge, []), roster=o.roster, active=o.active)
            for o in officers]


@router.get("", response_model=list[OfficerOut], responses=ERRORS, dependencies=[Police])
def list_officers(session: SessionDep, response: Response, role: OfficerRole | None = None,
                  district: str | None = None, active: bool | None = None,
                  q: Annotated[str | None, Query(description="badge or name contains")] = None,
                  sort: str = sort_help(SORTABLE, "badge"), limit: Limit = 100,
                  offset: Offset = 0) -> list[OfficerOut]:
    """Officers, filtered, sorted, paged (``X-Total-Count``)."""
    query = matching(select(Officer), (Officer.role, role), (Officer.active, active))
    if district:
        query = query.where(Officer.badge.in_(
            select(OfficerDistrict.badge).where(OfficerDistrict.district == district)))
    if q:
        query = query.where(Officer.badge.icontains(q, autoescape=True)
                            | Officer.name.contains(q, autoescape=True))
    rows = page(session, query, response, sortable=SORTABLE, sort=sort, limit=limit,
                offset=offset)
    return _out(session, [o for (o,) in rows])


@router.get("/{badge}", response_model=OfficerOut, responses=ERRORS, dependencies=[Police])
def get_officer(badge: str, session: SessionDep) -> OfficerOut:
    return _out(session, [found(session.get(Officer, badge), f"officer {badge}")])[0]


def _save(session: SessionDep, record: OfficerIn) -> OfficerOut:
    with committing(session):
        officer = people.save_officer(session, record)
    return _out(session, [officer])[0]


@router.post("", response_model=OfficerOut, status_code=201, responses=WRITE_ERRORS,
             dependencies=[AdminOnly])
def create_officer(record: OfficerIn, session: SessionDep) -> OfficerOut:
    """Register an officer (admin); 409 if the badge exists."""
    refuse_existing(session.get(Officer, record.badge),
                    f"badge: officer {record.badge} already exists; PUT to change it")
    return _save(session, record)


@router.put("/{badge}", response_model=OfficerOut, responses=WRITE_ERRORS,
            dependencies=[AdminOnly])
def replace_officer(badge: str, record: OfficerIn, session: SessionDep) -> OfficerOut:
    """Replace an officer's record and districts (admin); reactivates a deactivated one."""
    same_key(record.badge, badge,
             f"badge: the body's badge {record.badge} differs from the path's {badge}")
    found(session.get(Officer, badge), f"officer {badge}")
    return _save(session, record)


@router.delete("/{badge}", response_model=Removed, responses=WRITE_ERRORS,
               dependencies=[AdminOnly])
def delete_officer(badge: str, session: SessionDep) -> Removed:
    """Delete an officer (admin): 409 while responsible for a district; deactivated when
    vehicles, accounts or incidents name them."""
    officer = found(session.get(Officer, badge), f"officer {badge}")
    return removed(session, people.remove_officer, officer)
