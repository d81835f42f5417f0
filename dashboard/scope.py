"""The one scoping layer: what each principal may see (object-level authorisation).

Every list and every by-id read goes through these filters, so a company never
sees another company's vehicles or incidents, by list, by id or by stream.
Behind them, PostgreSQL's row-level security (migration 0500) holds each request's
transaction to ``database_scope`` of the caller.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, false, or_
from sqlalchemy.sql.elements import ColumnElement

from alerts.models import Incident
from dashboard.security import Principal
from keywatch.db import NO_SCOPE, STAFF, company_scope
from registry.models import Company, Driver, Vehicle

SEE_ALL = ("admin", "inspector")
POLICE = ("admin", "supervisor", "officer", "inspector")

SelectT = TypeVar("SelectT", bound=Select)


def scoped(query: SelectT, visible: ColumnElement[bool] | None) -> SelectT:
    """``query`` narrowed by one of the ``*_visible`` clauses below (None: sees all)."""
    return query if visible is None else query.where(visible)


def database_scope(user: Principal) -> str:
    """The row-level-security scope of the user's transactions: police accounts pass the
    company filter (their narrower district scoping is the code's), a company account
    sees its own rows, anyone else none."""
    if user.role in POLICE:
        return STAFF
    if user.role == "company" and user.company:
        return company_scope(user.company)
    return NO_SCOPE


def incidents_visible(user: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause on incidents, or None when the user sees all."""
    if user.role in SEE_ALL:
        return None
    if user.role == "company":
        return Incident.company == user.company if user.company else false()
    clauses = []
    if user.districts:
        clauses.append(Incident.district.in_(user.districts))
    if user.officer:
        clauses.append(Incident.officer == user.officer)
        clauses.append(Incident.responsible_officer == user.officer)  # 责任到人
        if user.role == "supervisor":
            clauses.append(Incident.supervisor == user.officer)
    return or_(*clauses) if clauses else false()


def may_see_incident(user: Principal, *, company: str | None, district: str | None,
                     officer: str | None, supervisor: str | None,
                     responsible_officer: str | None) -> bool:
    """``incidents_visible`` for one incident in memory (the live stream)."""
    if user.role in SEE_ALL:
        return True
    if user.role == "company":
        return bool(user.company) and company == user.company
    return (district in user.districts
            or (user.officer is not None
                and user.officer in (officer, responsible_officer)
                or (user.role == "supervisor" and supervisor == user.officer)))


def vehicles_visible(user: Principal) -> ColumnElement[bool] | None:
    """Companies see their own fleet; police roles see the city's key vehicles."""
    if user.role == "company":
        return Vehicle.company_code == user.company if user.company else false()
    return None


def may_act_on_incident(user: Principal, incident: Incident) -> bool:
    """Officers acknowledge/resolve incidents of their districts; supervisors theirs too."""
    if user.role == "admin":
        return True
    if user.role not in ("officer", "supervisor"):
        return False
    return (incident.district in user.districts or incident.officer == user.officer
            or (user.role == "supervisor" and incident.supervisor == user.officer))


# --- registry resources (issue 3) ---

def companies_visible(user: Principal) -> ColumnElement[bool] | None:
    """A company account sees only its own company record."""
    if user.role == "company":
        return Company.code == user.company if user.company else false()
    return None


def drivers_visible(user: Principal) -> ColumnElement[bool] | None:
    """A company account sees only its own drivers."""
    if user.role == "company":
        return Driver.company_code == user.company if user.company else false()
    return None


def inspections_visible(user: Principal) -> ColumnElement[bool] | None:
    """On a query joined with vehicles: a company sees its own trucks' inspections."""
    return vehicles_visible(user)


def sees_police_directory(user: Principal) -> bool:
    """Officers' contact details are for police roles, not transport companies."""
    return user.role != "company"
