"""/api/v1/companies — transport companies and their notice channels (抄告).

A company account sees only its own record (404 for others'); admin writes.
The webhook secret is write-only: responses say only whether one is set.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from dashboard.deps import CurrentUser, SessionDep
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
from dashboard.scope import companies_visible, scoped
from registry import people
from registry.checks import check_companies
from registry.models import Company
from registry.schemas import CompanyIn, CompanyKind

router = APIRouter(prefix="/api/v1/companies", tags=["companies"])


class CompanyOut(BaseModel):
    code: str
    name: str
    kind: str
    licence_no: str | None = Field(description="unified social credit code (统一社会信用代码)")
    contact: str | None
    phone: str | None
    webhook_url: str | None
    has_webhook_secret: bool
    email: str | None
    sms: str | None
    active: bool


SORTABLE = {"code": Company.code, "name": Company.name, "kind": Company.kind}


def _out(c: Company) -> CompanyOut:
    return CompanyOut(code=c.code, name=c.name, kind=c.kind, licence_no=c.licence_no,
                      contact=c.contact, phone=c.phone, webhook_url=c.webhook_url,
                      has_webhook_secret=bool(c.webhook_secret), email=c.email, sms=c.sms,
                      active=c.active)


def _visible(session: SessionDep, user: CurrentUser, code: str) -> Company:
    query = scoped(select(Company).where(Company.code == code), companies_visible(user))
    return found(session.scalar(query), f"company {code}")


@router.get("", response_model=list[CompanyOut], responses=ERRORS)
def list_companies(session: SessionDep, user: CurrentUser, response: Response,
                   kind: CompanyKind | None = None, active: bool | None = None,
                   q: Annotated[str | None, Query(description="code or name contains")] = None,
                   sort: str = sort_help(SORTABLE, "code"), limit: Limit = 100,
                   offset: Offset = 0) -> list[CompanyOut]:
    """Companies (a company account: its own), filtered, sorted, paged (``X-Total-Count``)."""
    query = matching(scoped(select(Company), companies_visible(user)),
                     (Company.kind, kind), (Company.active, active))
    if q:
        query = query.where(Company.code.icontains(q, autoescape=True)
                            | Company.name.icontains(q, autoescape=True))
    rows = page(session, query, response, sortable=SORTABLE, sort=sort, limit=limit,
                offset=offset)
    return [_out(c) for (c,) in rows]


@router.get("/{code}", response_model=CompanyOut, responses=ERRORS)
def get_company(code: str, session: SessionDep, user: CurrentUser) -> CompanyOut:
    return _out(_visible(session, user, code))


def _save(session: SessionDep, record: CompanyIn) -> CompanyOut:
    store(session, record, check_companies, people.upsert_companies)
    return _out(session.get(Company, record.code, populate_existing=True))


@router.post("", response_model=CompanyOut, status_code=201, responses=WRITE_ERRORS,
             dependencies=[AdminOnly])
def create_company(record: CompanyIn, session: SessionDep) -> CompanyOut:
    """Register a company (admin); 409 if the code or credit code is taken."""
    refuse_existing(session.get(Company, record.code),
                    f"code: company {record.code} already exists; PUT to change it")
    return _save(session, record)


@router.put("/{code}", response_model=CompanyOut, responses=WRITE_ERRORS,
            dependencies=[AdminOnly])
def replace_company(code: str, record: CompanyIn, session: SessionDep) -> CompanyOut:
    """Replace a company's record (admin); an omitted webhook_secret keeps the old one.
    Reactivates a deactivated company."""
    same_key(record.code, code,
             f"code: the body's code {record.code} differs from the path's {code}")
    found(session.get(Company, code), f"company {code}")
    return _save(session, record)


@router.delete("/{code}", response_model=Removed, responses=WRITE_ERRORS,
               dependencies=[AdminOnly])
def delete_company(code: str, session: SessionDep) -> Removed:
    """Delete a company (admin); one with vehicles, drivers, accounts or incidents is
    deactivated instead."""
    company = found(session.get(Company, code), f"company {code}")
    return removed(session, people.remove_company, company)
