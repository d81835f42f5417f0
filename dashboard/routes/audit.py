"""GET /api/v1/audit — the audit log, for admins: newest first, filters and paging
(``X-Total-Count`` carries the number of matching entries)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from dashboard.deps import SessionDep, require_roles
from dashboard.routes.registry_api import Limit, Offset
from registry import audit

router = APIRouter(prefix="/api/v1/audit", tags=["audit"],
                   dependencies=[require_roles("admin")])


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    role: str | None
    action: str
    method: str | None
    path: str | None
    route: str | None
    status: int | None
    outcome: str
    address: str | None
    details: dict[str, Any] | None


@router.get("", response_model=list[AuditOut])
def list_audit(
    session: SessionDep, response: Response,
    actor: str | None = None,
    action: Literal["login", "refresh", "logout", "write"] | None = None,
    outcome: Literal["ok", "failed", "denied", "locked", "error"] | None = None,
    method: Literal["POST", "PUT", "PATCH", "DELETE"] | None = None,
    path: Annotated[str | None, Query(description="path prefix, e.g. /api/v1/vehicles")] = None,
    address: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AuditOut]:
    total, rows = audit.search(session, actor=actor, action=action, outcome=outcome,
                               method=method, path=path, address=address, since=since,
                               until=until, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [AuditOut.model_validate(row, from_attributes=True) for row in rows]
