"""Cross-checks of validated records against the database (shared by the API and imports).

The schemas (``registry.schemas``) check each value alone; these check what only
the database knows: that a referenced company, district, officer or geofence
exists and is active, and that a terminal or VIN is not already held by another
active vehicle. Each problem names the record (its position in the list), the
field and the value, so an import can report it as a row error and the API as a
422 (or 409 for ``conflict`` problems) naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from keywatch.errors import Conflict, Invalid
from registry.models import Company, District, Geofence, Officer, Vehicle
from registry.schemas import CompanyIn, DriverIn, VehicleIn
from registry.sql import any_of


@dataclass(frozen=True, slots=True)
class Problem:
    index: int  # position of the record in the checked list
    field: str
    value: str
    reason: str
    conflict: bool = False  # clashes with existing data (→ 409) rather than bad input


def raise_first(problems: Sequence[Problem]) -> None:
    """For single-record writes: all problems in one 422 (or 409 if any is a conflict)."""
    if not problems:
        return
    message = "; ".join(f"{p.field}: {p.reason}" for p in problems)
    if any(p.conflict for p in problems):
        raise Conflict(message)
    raise Invalid(message)


def _existing(session: Session, column, values: Iterable[str], *extra) -> set[str]:  # type: ignore[no-untyped-def]
    wanted = sorted({v for v in values if v})
    if not wanted:
        return set()
    return set(session.scalars(select(column).where(any_of(column, wanted), *extra)))


def active_companies(session: Session, codes: Iterable[str | None]) -> set[str]:
    return _existing(session, Company.code, (c for c in codes if c), Company.active)


def fence_kinds(session: Session, refs: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Active geofences by ref: ref → (id, kind)."""
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    rows = session.execute(select(Geofence.ref, Geofence.id, Geofence.kind).where(
        any_of(Geofence.ref, wanted), Geofence.active))
    return {str(ref): (fence_id, kind) for ref, fence_id, kind in rows}


def check_vehicles(session: Session, records: Sequence[VehicleIn]) -> list[Problem]:
    companies = active_companies(session, (r.company for r in records))
    districts = _existing(session, District.code, (r.home_district for r in records))
    officers = _existing(session, Officer.badge, (r.officer or "" for r in records),
                         Officer.active)
    fences = fence_kinds(session, (ref for r in records for ref in (*r.routes, *r.sites)))
    problems: list[Problem] = []
    for i, r in enumerate(records):
        if r.company not in companies:
            problems.append(Problem(i, "company", r.company,
                                    f"unknown or deactivated company {r.company!r} (所属企业)"))
        if r.home_district not in districts:
            problems.append(Problem(i, "home_district", r.home_district,
                                    f"unknown district {r.home_district!r} (辖区)"))
        if r.officer and r.officer not in officers:
            problems.append(Problem(i, "officer", r.officer,
                                    f"unknown or deactivated officer badge {r.officer!r} (警号)"))
        for field, refs, kind in (("routes", r.routes, "route"), ("sites", r.sites, "site")):
            for ref in refs:
                found = fences.get(ref)
                if found is None:
                    problems.append(Problem(i, field, ref, f"unknown geofence ref {ref!r}"))
                elif found[1] != kind:
                    problems.append(Problem(
                        i, field, ref, f"geofence {ref!r} is a {found[1]}, not a {kind}"))
    return problems + _holder_conflicts(session, records)


def _holder_conflicts(session: Session, records: Sequence[VehicleIn]) -> list[Problem]:
    """A terminal (or VIN) may speak for one active vehicle only."""
    in_file = {r.plate: r for r in records}
    problems: list[Problem] = []
    for field, column in (("device_id", Vehicle.device_id), ("vin", Vehicle.vin)):
        values = sorted({getattr(r, field) for r in records if getattr(r, field)})
        if not values:
            continue
        holders: dict[str, list[str]] = {}
        for value, plate in session.execute(select(column, Vehicle.plate).where(
                any_of(column, values), Vehicle.status == "active")):
            holders.setdefault(str(value), []).append(plate)
        for i, r in enumerate(records):
            value = getattr(r, field)
            if not value or r.status != "active":
                continue
            for plate in holders.get(value, ()):
                other = in_file.get(plate)
                moving_away = other is not None and (
                    getattr(other, field) != value or other.status != "active")
                if plate != r.plate and not moving_away:
                    what = "terminal" if field == "device_id" else "VIN"
                    problems.append(Problem(
                        i, field, value, f"{what} {value!r} already belongs to active vehicle "
                        f"{plate}; unbind or suspend that vehicle first", conflict=True))
    return problems


def check_drivers(session: Session, records: Sequence[DriverIn]) -> list[Problem]:
    companies = active_companies(session, (r.company for r in records))
    return [
        Problem(i, "company", r.company,
                f"unknown or deactivated company {r.company!r} (所属企业)")
        for i, r in enumerate(records)
        if r.company and r.company not in companies
    ]


def check_companies(session: Session, records: Sequence[CompanyIn]) -> list[Problem]:
    """A unified social credit code identifies one company."""
    codes = sorted({r.licence_no for r in records})
    holders = dict(session.execute(select(Company.licence_no, Company.code).where(
        any_of(Company.licence_no, codes))).all()) if codes else {}
    in_file = {r.code: r.licence_no for r in records}
    problems = []
    for i, r in enumerate(records):
        holder = holders.get(r.licence_no)
        if holder and holder != r.code and in_file.get(holder, r.licence_no) == r.licence_no:
            problems.append(Problem(
                i, "licence_no", r.licence_no,
                f"credit code already registered to company {holder!r}", conflict=True))
    return problems
