"""Monthly muck-truck hazard inspections (每月隐患排查): upload, gaps, overdue hazards.

A company uploads its own trucks' inspections for a month (an inspector any
truck's); re-uploading a truck's month supersedes the earlier row
(``superseded_at``) instead of overwriting it. ``raise_overdue`` opens one
``inspection_overdue`` incident per active muck truck still missing its
inspection once the month's deadline has passed; it takes the clock as an
argument and is idempotent.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from keywatch.errors import Invalid
from registry.headers import IMPORT_SPECS
from registry.models import Inspection, Vehicle
from registry.schemas import CHECKLIST_ITEMS, InspectionRowIn
from registry.sql import any_of
from registry.tabular import DEFAULT_MAX_BYTES, RowError, parse_rows

_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def parse_month(value: str) -> str:
    if not isinstance(value, str) or not _MONTH.fullmatch(value.strip()):
        raise Invalid(f"month {value!r} must be written YYYY-MM, e.g. 2026-11")
    return value.strip()


def month_bounds(month: str) -> tuple[date, date]:
    year, mon = int(month[:4]), int(month[5:])
    return date(year, mon, 1), date(year, mon, calendar.monthrange(year, mon)[1])


def deadline(month: str, *, tz: ZoneInfo, deadline_day: int = 0) -> datetime:
    """The end (local midnight after) of the month's deadline day; 0 = its last day."""
    first, last = month_bounds(month)
    day = last if deadline_day <= 0 else first.replace(day=min(deadline_day, last.day))
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


@dataclass(slots=True)
class UploadOutcome:
    month: str
    rows: int = 0
    stored: int = 0
    replaced: int = 0  # earlier uploads of the same truck and month now superseded
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"month": self.month, "rows": self.rows, "stored": self.stored,
                "replaced": self.replaced, "skipped": self.skipped, "written": self.stored > 0,
                "errors": [{"row": e.row, "column": e.column, "field": e.field,
                            "value": e.value, "reason": e.reason} for e in self.errors]}


def upload(session: Session, data: bytes, *, month: str, company: str | None, uploaded_by: str,
           now: datetime, filename: str | None = None, skip_invalid: bool = False,
           max_bytes: int = DEFAULT_MAX_BYTES) -> UploadOutcome:
    """Store a month's inspections; ``company`` set means only that company's trucks."""
    month = parse_month(month)
    parsed = parse_rows("inspections", data, filename=filename, max_bytes=max_bytes)
    outcome = UploadOutcome(month=month, errors=list(parsed.errors))
    trucks = _trucks(session, [r.record.plate for r in parsed.rows], company)
    first, last = month_bounds(month)
    headers = IMPORT_SPECS["inspections"].headers
    seen: dict[str, int] = {}
    good: list[tuple[int, InspectionRowIn]] = []
    for row in parsed.rows:
        rec: InspectionRowIn = row.record
        problem = _row_problem(rec, trucks, first, last, seen.setdefault(rec.plate, row.row),
                               row.row, company)
        if problem:
            column = headers[problem[0]][0]
            outcome.errors.append(RowError(row.row, column, problem[1], problem[2], problem[0]))
        else:
            good.append((row.row, rec))
    outcome.errors.sort(key=lambda e: e.row)
    bad = {e.row for e in outcome.errors}
    outcome.rows = len(parsed.rows) + len(bad - {r.row for r in parsed.rows})
    if bad and not skip_invalid:
        return outcome
    outcome.skipped = len(bad)
    for _, rec in good:
        outcome.replaced += _store(session, rec, trucks[rec.plate], month, uploaded_by, now)
    outcome.stored = len(good)
    return outcome


def _trucks(session: Session, plates: Sequence[str], company: str | None) -> dict[str, Vehicle]:
    if not plates:
        return {}
    query = select(Vehicle).where(any_of(Vehicle.plate, plates))
    if company is not None:
        query = query.where(Vehicle.company_code == company)
    return {v.plate: v for v in session.scalars(query)}


def _row_problem(rec: InspectionRowIn, trucks: dict[str, Vehicle], first: date, last: date,
                 first_row: int, row: int, company: str | None) -> tuple[str, str, str] | None:
    vehicle = trucks.get(rec.plate)
    if vehicle is None:
        whose = "of your company" if company else "in the registry"
        return "plate", rec.plate, f"no vehicle {rec.plate} {whose}"
    if vehicle.vehicle_class != "muck_truck":
        return "plate", rec.plate, f"{rec.plate} is a {vehicle.vehicle_class}, not a muck truck"
    if first_row != row:
        return "plate", rec.plate, f"the same truck is already in row {first_row}"
    if not first <= rec.date <= last:
        return ("date", rec.date.isoformat(),
                f"inspection date is outside the month {first:%Y-%m} being uploaded")
    return None


def _store(session: Session, rec: InspectionRowIn, vehicle: Vehicle, month: str,
           uploaded_by: str, now: datetime) -> int:
    replaced = session.execute(update(Inspection).where(
        Inspection.vehicle_id == vehicle.id, Inspection.month == month,
        Inspection.superseded_at.is_(None)).values(superseded_at=now).returning(Inspection.id)
    ).all()
    items = {name: getattr(rec, name) for name in CHECKLIST_ITEMS
             if getattr(rec, name) is not None}
    status = rec.rectification_status or ("pending" if rec.hazards else None)
    session.add(Inspection(
        vehicle_id=vehicle.id, month=month, inspected_on=rec.date, inspector=rec.inspector,
        items=items, hazards=rec.hazards or None, rectification_deadline=rec.rectification_deadline,
        rectification_status=status, photos=rec.photos or None, uploaded_by=uploaded_by,
        uploaded_at=now))
    session.flush()
    return len(replaced)


def _current(month: str):  # type: ignore[no-untyped-def]
    return exists().where(Inspection.vehicle_id == Vehicle.id, Inspection.month == month,
                          Inspection.superseded_at.is_(None))


def missing_query(month: str):  # type: ignore[no-untyped-def]
    """Active muck trucks without a current inspection for ``month``."""
    return select(Vehicle).where(Vehicle.vehicle_class == "muck_truck",
                                 Vehicle.status == "active", ~_current(month))


def overdue_hazards_query(today: date):  # type: ignore[no-untyped-def]
    """Current inspections whose hazard is not rectified by its deadline."""
    return select(Inspection, Vehicle).join(Vehicle, Vehicle.id == Inspection.vehicle_id).where(
        Inspection.superseded_at.is_(None), Inspection.rectification_deadline < today,
        Inspection.rectification_status.is_distinct_from("done"),
    )
