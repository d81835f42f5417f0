"""/api/v1/inspections — monthly muck-truck hazard inspections (每月隐患排查).

A company uploads its own trucks' month (an inspector or admin any truck's);
re-uploading a truck's month supersedes the earlier version, which is kept.
Reads are scoped: a company sees its own trucks only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from dashboard.deps import CurrentUser, SessionDep, SettingsDep, parse_plate, require_roles
from dashboard.routes.registry_api import (
    ERRORS,
    UPLOAD_ERRORS,
    Limit,
    Offset,
    RowErrorOut,
    committing,
    page,
    read_upload,
    sort_help,
)
from dashboard.scope import inspections_visible, scoped
from registry import inspections
from registry.models import Inspection, Vehicle

router = APIRouter(prefix="/api/v1/inspections", tags=["inspections"])
Uploader = require_roles("admin", "inspector", "company")
Month = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class InspectionOut(BaseModel):
    id: int
    plate: str
    company: str | None
    home_district: str | None
    month: str
    inspected_on: date
    inspector: str
    items: dict[str, bool] = Field(description="checklist item → passed")
    hazards: str | None
    rectification_deadline: date | None
    rectification_status: str | None
    photos: list[str]
    uploaded_by: str | None
    uploaded_at: datetime
    superseded_at: datetime | None


class UploadReport(BaseModel):
    month: str
    rows: int
    stored: int
    replaced: int = Field(description="earlier uploads now superseded (kept)")
    skipped: int
    written: bool
    errors: list[RowErrorOut]


class MissingGroup(BaseModel):
    company: str | None
    district: str | None
    count: int
    plates: list[str]


class MissingReport(BaseModel):
    month: str
    total: int
    groups: list[MissingGroup]


SORTABLE = {"plate": Vehicle.plate, "inspected_on": Inspection.inspected_on,
            "uploaded_at": Inspection.uploaded_at, "company": Vehicle.company_code,
            "rectification_deadline": Inspection.rectification_deadline}


def _out(i: Inspection, v: Vehicle, tz: Any) -> InspectionOut:
    return InspectionOut(
        id=i.id, plate=v.plate, company=v.company_code, home_district=v.home_district,
        month=i.month, inspected_on=i.inspected_on, inspector=i.inspector, items=i.items or {},
        hazards=i.hazards, rectification_deadline=i.rectification_deadline,
        rectification_status=i.rectification_status, photos=i.photos or [],
        uploaded_by=i.uploaded_by, uploaded_at=i.uploaded_at.astimezone(tz),
        superseded_at=i.superseded_at.astimezone(tz) if i.superseded_at else None)


def _scoped(query: Any, user: CurrentUser) -> Any:
    return scoped(query, inspections_visible(user))


@router.post("", response_model=UploadReport, responses=UPLOAD_ERRORS,
             dependencies=[Uploader])
async def upload_inspections(
    user: CurrentUser, session: SessionDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK) or XLSX: 号牌号码 排查日期 "
                                     "排查人, checklist columns (合格/不合格), 隐患 整改期限 …")],
    month: Annotated[str, Form(description="the month inspected, YYYY-MM")],
    skip_invalid: Annotated[bool, Form()] = False,
) -> JSONResponse | UploadReport:
    """Upload a month's inspections. A company account may upload only its own muck
    trucks (other plates are row errors); a bad row refuses the file (422, per-row report)
    unless ``skip_invalid``."""
    data = await read_upload(file, settings.import_max_bytes)
    company = (user.company or "") if user.role == "company" else None
    with committing(session):
        outcome = inspections.upload(
            session, data, month=month, company=company,
            uploaded_by=user.username, now=datetime.now(UTC), filename=file.filename,
            skip_invalid=skip_invalid, max_bytes=settings.import_max_bytes)
    report = outcome.as_dict()
    if outcome.errors and not skip_invalid:
        message = f"{len(outcome.errors)} problems; nothing was stored"
        return JSONResponse({"error": message, "status": 422, **report}, status_code=422)
    return UploadReport.model_validate(report)


@router.get("", response_model=list[InspectionOut], responses=ERRORS)
def list_inspections(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                     response: Response, month: Month, plate: str | None = None,
                     company: str | None = None, include_superseded: bool = False,
                     sort: str = sort_help(SORTABLE, "plate"), limit: Limit = 100,
                     offset: Offset = 0) -> list[InspectionOut]:
    """A month's inspections (current versions; ``include_superseded`` for history)."""
    query = _scoped(select(Inspection, Vehicle).join(Vehicle, Vehicle.id == Inspection.vehicle_id)
                    .where(Inspection.month == month), user)
    if not include_superseded:
        query = query.where(Inspection.superseded_at.is_(None))
    if plate:
        query = query.where(Vehicle.plate == parse_plate(plate))
    if company:
        query = query.where(Vehicle.company_code == company)
    rows = page(session, query, response, sortable=SORTABLE, sort=sort, limit=limit,
                offset=offset)
    return [_out(i, v, settings.zone) for i, v in rows]


@router.get("/missing", response_model=MissingReport, responses=ERRORS)
def missing_inspections(user: CurrentUser, session: SessionDep, month: Month) -> MissingReport:
    """Active muck trucks without an inspection for the month, by company and district."""
    query = _scoped(inspections.missing_query(month), user)
    sub = query.subquery()
    rows = session.execute(
        select(sub.c.company_code, sub.c.home_district, func.count(),
               func.array_agg(aggregate_order_by(sub.c.plate, sub.c.plate)))
        .group_by(sub.c.company_code, sub.c.home_district)
        .order_by(sub.c.company_code, sub.c.home_district))
    groups = [MissingGroup(company=c, district=d, count=n, plates=list(p))
              for c, d, n, p in rows]
    return MissingReport(month=month, total=sum(g.count for g in groups), groups=groups)


@router.get("/overdue-hazards", response_model=list[InspectionOut], responses=ERRORS)
def overdue_hazards(user: CurrentUser, session: SessionDep, settings: SettingsDep,
                    response: Response,
                    today: Annotated[date | None, Query(
                        description="judge as of this local date (default: today)")] = None,
                    sort: str = sort_help(SORTABLE, "rectification_deadline"),
                    limit: Limit = 100, offset: Offset = 0) -> list[InspectionOut]:
    """Hazards not rectified by their deadline (current inspections of any month)."""
    as_of = today or datetime.now(settings.zone).date()
    query = _scoped(inspections.overdue_hazards_query(as_of), user)
    rows = page(session, query, response, sortable=SORTABLE, sort=sort, limit=limit,
                offset=offset)
    return [_out(i, v, settings.zone) for i, v in rows]
