"""Writing companies, drivers and officers; removing them without losing history.

Companies and drivers are upserted in bulk by natural key (code, licence
number) — one path for the API and for imports. A row that history refers to
(vehicles, incidents, accounts, tachograph events) is deactivated, not deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from keywatch.errors import Conflict, Invalid
from registry.fleet import CHUNK, Progress, Upserted
from registry.models import Company, District, Driver, Officer, OfficerDistrict
from registry.schemas import CompanyIn, DriverIn, OfficerIn
from registry.sql import any_of


def _upsert(session: Session, model: Any, key: str, rows: list[dict[str, Any]],
            keep_when_null: tuple[str, ...] = (), progress: Progress | None = None) -> Upserted:
    if not rows:
        return Upserted(created=0, updated=0)
    stmt = pg_insert(model)
    set_: dict[str, Any] = {c: stmt.excluded[c] for c in rows[0] if c != key}
    for column in keep_when_null:  # e.g. a webhook secret the file does not carry
        set_[column] = text(f"COALESCE(EXCLUDED.{column}, {model.__tablename__}.{column})")
    upsert: Any = stmt.on_conflict_do_update(index_elements=[key], set_=set_).returning(
        literal_column("(xmax = 0)"))
    created = 0
    for start in range(0, len(rows), CHUNK):
        # executemany: compiled once, sent as multi-row batches (insertmanyvalues)
        created += sum(session.execute(upsert, rows[start:start + CHUNK]).scalars())
        if progress:
            progress(min(start + CHUNK, len(rows)), len(rows))
    return Upserted(created=created, updated=len(rows) - created)


def upsert_companies(session: Session, records: Sequence[CompanyIn],
                     progress: Progress | None = None) -> Upserted:
    rows = [r.model_dump() | {"active": True} for r in records]
    return _upsert(session, Company, "code", rows, ("webhook_secret",), progress)


def upsert_drivers(session: Session, records: Sequence[DriverIn],
                   progress: Progress | None = None) -> Upserted:
    rows = [{"licence_no": r.licence_no, "name": r.name, "phone": r.phone,
             "company_code": r.company, "active": True,
             "qualifications": [q.model_dump(mode="json") for q in r.qualifications]}
            for r in records]
    return _upsert(session, Driver, "licence_no", rows, progress=progress)


def save_officer(session: Session, record: OfficerIn) -> Officer:
    """Create or replace an officer and the districts they serve."""
    known = set(session.scalars(select(District.code).where(
        any_of(District.code, record.districts)))) if record.districts else set()
    unknown = [code for code in record.districts if code not in known]
    if unknown:
        raise Invalid(f"districts: unknown district codes {', '.join(unknown)}")
    officer = session.get(Officer, record.badge) or Officer(badge=record.badge)
    officer.name, officer.phone, officer.email = record.name, record.phone, record.email
    officer.role, officer.active = record.role, True
    officer.roster = [s.model_dump() for s in record.roster] if record.roster else None
    session.add(officer)
    session.flush()
    session.execute(delete(OfficerDistrict).where(OfficerDistrict.badge == record.badge))
    session.add_all(OfficerDistrict(badge=record.badge, district=code)
                    for code in dict.fromkeys(record.districts))
    session.flush()
    return officer


def _referenced(session: Session, checks: Sequence[tuple[str, str]], value: str) -> list[str]:
    """Names of the tables (from ``checks``: table, column) holding ``value``."""
    found = []
    for table, column in checks:
        sql = text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = :v)")
        if session.execute(sql, {"v": value}).scalar_one():
            found.append(table)
    return found


def remove_company(session: Session, company: Company) -> str:
    used = _referenced(session, (("vehicles", "company_code"), ("drivers", "company_code"),
                                 ("users", "company_code"), ("incidents", "company")),
                       company.code)
    if used:
        company.active = False
        return "deactivated"
    session.delete(company)
    return "deleted"


def remove_driver(session: Session, driver: Driver) -> str:
    used = _referenced(session, (("vehicles", "driver_licence"), ("tacho_events", "driver")),
                       driver.licence_no)
    if used:
        driver.active = False
        return "deactivated"
    session.delete(driver)
    return "deleted"


def remove_officer(session: Session, officer: Officer) -> str:
    """An officer still responsible for a district cannot go: incidents would be routed
    to nobody. Otherwise deactivated when history names them, else deleted."""
    district = session.scalar(select(District.code).where(
        (District.officer_badge == officer.badge) | (District.supervisor_badge == officer.badge)))
    if district:
        raise Conflict(f"officer {officer.badge} is responsible for district {district}; "
                       "assign another officer to it first")
    used = _referenced(session, (("vehicles", "officer_badge"), ("users", "officer_badge"),
                                 ("incidents", "officer"), ("incidents", "supervisor")),
                       officer.badge)
    session.execute(delete(OfficerDistrict).where(OfficerDistrict.badge == officer.badge))
    if used:
        officer.active = False
        return "deactivated"
    session.delete(officer)
    return "deleted"
