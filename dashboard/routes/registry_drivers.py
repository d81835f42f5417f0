"""/api/v1/drivers — drivers (licence number = resident ID), qualifications with expiry.

A company account sees only its own drivers (404 for others'); admin writes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from dashboard.deps import CurrentUser, SessionDep, SettingsDep
from dashboard.routes.registry_api import (
    ERRORS,
    WRITE_ERRORS,
    AdminOnly,
    Limit,
    Offset,
    Removed,
    found,
    matching,
    page,
    refuse_existing,
    removed,
    same_key,
    sort_help,
    store,
)
from dashboard.scope import drivers_visible, scoped
from keywatch.errors import Invalid
from registry import people
from registry.checks import check_drivers
from registry.models import Driver
from registry.schemas import DriverIn
from registry.validation import validate_resident_id

router = APIRouter(prefix="/api/v1/drivers", tags=["drivers"])


class QualificationOut(BaseModel):
    kind: str
    expires: date
    expired: bool = Field(description="the expiry date is before today (local time)")


class DriverOut(BaseModel):
    licence_no: str = Field(description="driving licence number = resident ID (身份证号)")
    name: str
    phone: str | None
    company: str | None
    qualifications: list[QualificationOut]
    active: bool


SORTABLE = {"licence_no": Driver.licence_no, "name": Driver.name,
            "company": Driver.company_code}


def _out(d: Driver, today: date) -> DriverOut:
    quals = []
    for q in d.qualifications or []:
        try:
            expires = date.fromisoformat(str(q.get("expires")))
        except ValueError:
            continue  # legacy rows without a readable expiry are not shown as valid
        quals.append(QualificationOut(kind=q.get("kind", ""), expires=expires,
                                      expired=expires < today))
    return DriverOut(licence_no=d.licence_no, name=d.name, phone=d.phone,
                     company=d.company_code, qualifications=quals, active=d.active)


def _licence(value: str) -> str:
    try:
        return validate_resident_id(value)
    except ValueError as exc:
        raise Invalid(f"licence_no: {exc}") from exc


def _visible(session: SessionDep, user: CurrentUser, licence_no: str) -> Driver:
    query = scoped(select(Driver).where(Driver.licence_no == _licence(licence_no)),
                   drivers_visible(user))
    return found(session.scalar(query), f"driver {licence_no}")


@router.get("", response_model=list[DriverOut], responses=ERRORS)
def list_drivers(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                 response: Response, company: str | None = None, active: bool | None = None,
                 q: Annotated[str | None, Query(description="name contains")] = None,
                 sort: str = sort_help(SORTABLE, "licence_no"), limit: Limit = 100,
                 offset: Offset = 0) -> list[DriverOut]:
    """Drivers (a company account: its own), filtered, sorted, paged (``X-Total-Count``)."""
    query = matching(scoped(select(Driver), drivers_visible(user)),
                     (Driver.company_code, company), (Driver.active, active))
    if q:
        query = query.where(Driver.name.contains(q, autoescape=True))
    today = datetime.now(settings.zone).date()
    rows = page(session, query, response, sortable=SORTABLE, sort=sort, limit=limit,
                offset=offset)
    return [_out(d, today) for (d,) in rows]


@router.get("/{licence_no}", response_model=DriverOut, responses=ERRORS)
def get_driver(licence_no: str, session: SessionDep, user: CurrentUser,
               settings: SettingsDep) -> DriverOut:
    return _out(_visible(session, user, licence_no), datetime.now(settings.zone).date())


def _save(session: SessionDep, record: DriverIn, settings: SettingsDep) -> DriverOut:
    store(session, record, check_drivers, people.upsert_drivers)
    driver = session.get(Driver, record.licence_no, populate_existing=True)
    return _out(driver, datetime.now(settings.zone).date())


@router.post("", response_model=DriverOut, status_code=201, responses=WRITE_ERRORS,
             dependencies=[AdminOnly])
def create_driver(record: DriverIn, session: SessionDep, settings: SettingsDep) -> DriverOut:
    """Register a driver (admin); 409 if the licence number exists."""
    refuse_existing(session.get(Driver, record.licence_no),
                    f"licence_no: driver {record.licence_no} already exists")
    return _save(session, record, settings)


@router.put("/{licence_no}", response_model=DriverOut, responses=WRITE_ERRORS,
            dependencies=[AdminOnly])
def replace_driver(licence_no: str, record: DriverIn, session: SessionDep,
                   settings: SettingsDep) -> DriverOut:
    """Replace a driver's record (admin); reactivates a deactivated driver."""
    same_key(record.licence_no, _licence(licence_no),
             "licence_no: the body's licence number differs from the path's")
    found(session.get(Driver, record.licence_no), f"driver {licence_no}")
    return _save(session, record, settings)


@router.delete("/{licence_no}", response_model=Removed, responses=WRITE_ERRORS,
               dependencies=[AdminOnly])
def delete_driver(licence_no: str, session: SessionDep) -> Removed:
    """Delete a driver (admin); one named by vehicles or tachograph events is deactivated."""
    driver = found(session.get(Driver, _licence(licence_no)), f"driver {licence_no}")
    return removed(session, people.remove_driver, driver)
