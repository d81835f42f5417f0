"""Auditing of the API's writes and sign-ins (the request side of ``registry.audit``).

Every POST/PUT/PATCH/DELETE under ``/api/v1`` depends on ``current_user``, which wraps
the request in ``audited`` below; sign-ins are recorded by the auth routes.
tests/security/test_audit.py checks that no write route escapes ``current_user``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from dashboard.errors import STATUS
from dashboard.security import Principal
from registry import audit

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sign-in and token routes record their own entries, with their own action names.
SELF_AUDITED = ("/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/logout")


def is_audited_write(request: Request) -> bool:
    path = request.url.path
    return (request.method in WRITES and path.startswith("/api/v1/")
            and not path.startswith(SELF_AUDITED))


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def status_of(exc: BaseException) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, RequestValidationError):
        return 422
    for exc_type, status in STATUS.items():
        if isinstance(exc, exc_type):
            return status
    return 500


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    return "failed" if status < 500 else "error"


def write(request: Request, *, action: str, actor: str | None, role: str | None,
          status: int | None, outcome: str | None = None, **details: Any) -> None:
    route = request.scope.get("route")
    audit.record(request.app.state.sessions, actor=actor, role=role, action=action,
                 method=request.method, path=request.url.path,
                 route=getattr(route, "path", None), status=status,
                 outcome=outcome or _outcome(status or 200),
                 address=client_address(request), details=details or None)


@contextmanager
def audited(request: Request, user: Principal) -> Iterator[None]:
    """Records the write after the route ran: its status when it raised, else 'ok'."""
    params = dict(request.path_params)
    try:
        yield
    except Exception as exc:
        status = status_of(exc)
        write(request, action="write", actor=user.username, role=user.role, status=status,
              params=params, error=str(exc)[:500])
        raise
    write(request, action="write", actor=user.username, role=user.role, status=None,
          outcome="ok", params=params)
