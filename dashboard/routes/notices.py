"""/api/v1/notices — company notices (抄告): a company account sees its own only;
police roles see those of incidents they may see, and may filter by company."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from alerts.models import Incident, Notice
from dashboard.deps import CurrentUser, SessionDep, SettingsDep, local_time, parse_plate
from dashboard.routes.registry_api import BigId, Limit, Offset, found, matching
from dashboard.scope import incidents_visible, scoped

router = APIRouter(prefix="/api/v1/notices", tags=["notices"])


class NoticeOut(BaseModel):
    id: int
    incident_id: int
    company: str
    plate: str
    rule: str
    rule_name: str
    severity: str
    occurred_at: datetime
    district: str | None
    district_name: str | None
    lon: float | None
    lat: float | None
    title: str
    text: str
    details: dict[str, Any]
    created_at: datetime


def _out(notice: Notice, tz: Any) -> NoticeOut:
    body = notice.body or {}
    return NoticeOut(
        id=notice.id, incident_id=notice.incident_id, company=notice.company,
        plate=notice.plate, rule=notice.rule, rule_name=body.get("rule_name", notice.rule),
        severity=notice.severity, occurred_at=notice.occurred_at.astimezone(tz),
        district=notice.district, district_name=body.get("district_name"),
        lon=body.get("lon"), lat=body.get("lat"), title=notice.title, text=notice.text,
        details=body.get("details") or {}, created_at=notice.created_at.astimezone(tz))


def _visible(user: CurrentUser):  # type: ignore[no-untyped-def]
    query = select(Notice).join(Incident, Incident.id == Notice.incident_id)
    return scoped(query, incidents_visible(user))


@router.get("", response_model=list[NoticeOut])
def list_notices(
    session: SessionDep, user: CurrentUser, settings: SettingsDep,
    company: str | None = None, plate: str | None = None, rule: str | None = None,
    since: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[NoticeOut]:
    query = matching(_visible(user), (Notice.company, company),
                     (Notice.plate, parse_plate(plate) if plate else None), (Notice.rule, rule))
    if since:
        query = query.where(Notice.occurred_at >= local_time(since, settings.zone))
    rows = session.scalars(query.order_by(Notice.id.desc()).limit(limit).offset(offset))
    return [_out(n, settings.zone) for n in rows]


@router.get("/{notice_id}", response_model=NoticeOut)
def get_notice(notice_id: BigId, session: SessionDep, user: CurrentUser,
               settings: SettingsDep) -> NoticeOut:
    notice = session.scalar(_visible(user).where(Notice.id == notice_id))
    return _out(found(notice, f"notice {notice_id}"), settings.zone)
