"""One mapping from ``KeywatchError`` (and geo's errors) to HTTP (STYLE.md §9)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from geo.errors import GeoError
from keywatch import errors

log = logging.getLogger(__name__)

STATUS: dict[type[Exception], int] = {
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Invalid: 422,
    GeoError: 422,
    # a value PostgreSQL cannot store (SQLSTATE class 22: a number out of range, NUL in
    # text, a string too long) came from the request: bad input, not a server error
    DataError: 422,
}


def _body(status: int, message: str, **extra: object) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status,
                        headers=headers)


def install(app: FastAPI) -> None:
    for exc_type, status in STATUS.items():
        app.add_exception_handler(exc_type, _handler(status))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['reason']}" for p in problems)
        return _body(422, f"invalid input: {summary}", problems=problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _body(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _body(500, "internal error; it has been logged")


def _handler(status: int):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return _body(status, _message(exc))

    return handle


def _message(exc: Exception) -> str:
    """For people: a database error says what PostgreSQL refused, never the SQL."""
    if isinstance(exc, DataError):
        return f"invalid input: {str(exc.orig).splitlines()[0] if exc.orig else 'bad value'}"
    return str(exc)
