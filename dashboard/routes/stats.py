"""/api/v1/stats — incidents per day by rule and by district, top companies, monthly
inspection completion, a violation heatmap, and all of it as one XLSX workbook.
Every figure is scoped like the lists it summarises (``dashboard.scope``)."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response
from openpyxl import Workbook
from sqlalchemy import Date, and_, cast, func, literal, select

from alerts.models import Incident
from dashboard.deps import CurrentUser, SessionDep, SettingsDep
from dashboard.routes.exports import neutralise
from dashboard.scope import incidents_visible, scoped, vehicles_visible
from keywatch.errors import Invalid
from registry.models import Company, Inspection, Vehicle

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])
MAX_DAYS = 366
Day = Annotated[date | None, Query(description="local date YYYY-MM-DD (KEYWATCH_TZ)")]


def _window(start: date | None, end: date | None, settings: SettingsDep
            ) -> tuple[date, date, datetime, datetime]:
    """[start, end] local days (default the last 30) and their instants."""
    end = end or datetime.now(settings.zone).date()
    try:
        start = start or end - timedelta(days=29)
        until = datetime.combine(end + timedelta(days=1), time(), settings.zone)
    except OverflowError as exc:  # the window's edges fall outside the calendar
        raise Invalid("start/end: dates out of range") from exc
    if end < start:
        raise Invalid("end must not be before start")
    if (end - start).days >= MAX_DAYS:
        raise Invalid(f"statistics cover at most {MAX_DAYS} days")
    return (start, end, datetime.combine(start, time(), settings.zone), until)


def _scoped(query: Any, user: CurrentUser, since: datetime, until: datetime) -> Any:
    query = query.where(Incident.started_at >= since, Incident.started_at < until)
    return scoped(query, incidents_visible(user))


def daily(session: SessionDep, user: CurrentUser, settings: SettingsDep, start: date | None,
          end: date | None, by: str) -> dict[str, Any]:
    first, last, since, until = _window(start, end, settings)
    day = cast(func.timezone(settings.tz, Incident.started_at), Date)
    key = Incident.rule if by == "rule" else func.coalesce(Incident.district, literal("-"))
    query = _scoped(select(day, key, func.count()).group_by(day, key), user, since, until)
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    series: dict[str, list[int]] = {}
    for d, k, n in session.execute(query):
        series.setdefault(k, [0] * len(days))[(d - first).days] = n
    return {"days": days, "by": by, "series": series}


@router.get("/incidents/daily")
def incidents_daily(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                    start: Day = None, end: Day = None,
                    by: Annotated[str, Query(pattern="^(rule|district)$")] = "rule",
                    ) -> dict[str, Any]:
    """Incidents per local day, one series per rule (or district)."""
    return daily(session, user, settings, start, end, by)


def top_companies(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                  start: date | None, end: date | None, limit: int) -> list[dict[str, Any]]:
    _, _, since, until = _window(start, end, settings)
    n = func.count().label("n")
    query = _scoped(
        select(Incident.company, Company.name, n)
        .outerjoin(Company, Company.code == Incident.company)
        .where(Incident.company.is_not(None))
        .group_by(Incident.company, Company.name).order_by(n.desc(), Incident.company)
        .limit(limit), user, since, until)
    return [{"company": c, "name": name, "incidents": count}
            for c, name, count in session.execute(query)]


@router.get("/companies/top")
def companies_top(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                  start: Day = None, end: Day = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 10) -> list[dict[str, Any]]:
    return top_companies(session, user, settings, start, end, limit)


def inspection_completion(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                          months: int) -> list[dict[str, Any]]:
    """Per month: active muck trucks, how many have a current inspection upload, the rate."""
    today = datetime.now(settings.zone).date()
    labels = []
    year, month = today.year, today.month
    for _ in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    trucks = select(Vehicle.id).where(Vehicle.vehicle_class == "muck_truck",
                                      Vehicle.status == "active")
    trucks = scoped(trucks, vehicles_visible(user))
    total = session.scalar(select(func.count()).select_from(trucks.subquery())) or 0
    done = dict(session.execute(
        select(Inspection.month, func.count(func.distinct(Inspection.vehicle_id)))
        .where(and_(Inspection.superseded_at.is_(None), Inspection.month.in_(labels),
                    Inspection.vehicle_id.in_(trucks)))
        .group_by(Inspection.month)).all())
    return [{"month": m, "trucks": total, "inspected": done.get(m, 0),
             "rate": round(done.get(m, 0) / total, 4) if total else None}
            for m in reversed(labels)]


@router.get("/inspections/monthly")
def inspections_monthly(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                        months: Annotated[int, Query(ge=1, le=24)] = 6) -> list[dict[str, Any]]:
    return inspection_completion(session, user, settings, months)


@router.get("/heatmap")
def heatmap(session: SessionDep, user: CurrentUser, settings: SettingsDep,
            start: Day = None, end: Day = None, rule: str | None = None) -> dict[str, Any]:
    """Incident locations on a ~100 m grid: ``points`` are [lat, lon, count]."""
    _, _, since, until = _window(start, end, settings)
    cell = func.ST_SnapToGrid(Incident.geom, 0.001)
    n = func.count().label("n")
    query = _scoped(select(func.ST_Y(cell), func.ST_X(cell), n)
                    .where(Incident.geom.is_not(None)).group_by(cell)
                    .order_by(n.desc()).limit(20000), user, since, until)
    if rule:
        query = query.where(Incident.rule == rule)
    points = [[lat, lon, count] for lat, lon, count in session.execute(query)]
    return {"points": points, "max": max((p[2] for p in points), default=0)}


@router.get("/export.xlsx")
def export_xlsx(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                start: Day = None, end: Day = None) -> Response:
    """All the statistics above for [start, end] as one workbook."""
    first, last, _, _ = _window(start, end, settings)
    book = Workbook()
    book.remove(book.active)
    for by, title in (("rule", "按规则 by rule"), ("district", "按辖区 by district")):
        data = daily(session, user, settings, first, last, by)
        sheet = book.create_sheet(title)
        keys = sorted(data["series"])
        sheet.append(["date", *(neutralise(k) for k in keys)])
        for i, day in enumerate(data["days"]):
            sheet.append([day, *(data["series"][k][i] for k in keys)])
    sheet = book.create_sheet("企业 companies")
    sheet.append(["company", "name", "incidents"])
    for row in top_companies(session, user, settings, first, last, 100):
        sheet.append([neutralise(row["company"]), neutralise(row["name"]), row["incidents"]])
    sheet = book.create_sheet("隐患排查 inspections")
    sheet.append(["month", "muck_trucks", "inspected", "rate"])
    for row in inspection_completion(session, user, settings, 12):
        sheet.append([row["month"], row["trucks"], row["inspected"], row["rate"]])
    out = io.BytesIO()
    book.save(out)
    name = f"keywatch-stats-{first:%Y%m%d}-{last:%Y%m%d}.xlsx"
    return Response(out.getvalue(), media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=\"{name}\"; "
                             f"filename*=UTF-8''{quote(name)}"})
