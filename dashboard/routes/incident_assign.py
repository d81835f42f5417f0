"""POST /api/v1/incidents/{id}/assign — supervisors and admins hand an incident to
another officer (same scoping as ack/resolve); the transition is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from alerts.assignment import reassign
from dashboard.deps import CurrentUser, SessionDep, SettingsDep, require_roles
from dashboard.routes.incidents import IncidentOut, _visible_incident, incident_out
from dashboard.routes.registry_api import BigId
from dashboard.scope import may_act_on_incident
from keywatch.errors import Forbidden

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


class AssignIn(BaseModel):
    model_config = {"extra": "forbid"}
    officer: str = Field(min_length=1, max_length=20, description="badge of the new officer")
    note: str | None = Field(default=None, max_length=2000)


@router.post("/{incident_id}/assign", response_model=IncidentOut,
             dependencies=[require_roles("admin", "supervisor")])
def assign_incident(incident_id: BigId, body: AssignIn, session: SessionDep, user: CurrentUser,
                    settings: SettingsDep) -> IncidentOut:
    incident = _visible_incident(session, user, incident_id)
    if not may_act_on_incident(user, incident):
        raise Forbidden("only the district's supervisors and admins reassign incidents")
    reassign(session, incident, officer=body.officer, actor=user.username,
             now=datetime.now(UTC), tz=settings.zone, note=body.note)
    session.commit()
    return incident_out(incident, settings.zone)
