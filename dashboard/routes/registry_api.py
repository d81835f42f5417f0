"""What the API's resources share: filters, paging and sorting (``X-Total-Count``),
get-or-404, the write guard and the checks of a single-record write, delete results,
uploads with a size limit, and the documented errors.

No ``router`` here: this module is a helper of the route modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from annotated_types import Interval
from fastapi import Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.deps import require_roles
from dashboard.scope import SelectT
from keywatch.errors import Conflict, Invalid, NotFound, TooLarge
from registry.checks import Problem, raise_first

Row = TypeVar("Row")
Record = TypeVar("Record")


class ErrorOut(BaseModel):
    error: str = Field(description="what went wrong, for people")
    status: int


class RowErrorOut(BaseModel):
    row: int = Field(description="spreadsheet row (the header is row 1)")
    column: str = Field(description="the column's header as written in the file")
    field: str = Field(description="the schema field, e.g. plate")
    value: str
    reason: str


class ImportReport(BaseModel):
    """The outcome of a bulk import; ``written`` is false when nothing was stored."""

    kind: str
    rows: int
    created: int
    updated: int
    skipped: int
    written: bool
    errors: list[RowErrorOut]


class ImportRefused(ImportReport):
    error: str
    status: int


class Removed(BaseModel):
    """``deleted``, or ``deactivated`` when history refers to the row (it is kept)."""

    result: str = Field(description="deleted or deactivated")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not signed in"},
    403: {"model": ErrorOut, "description": "role not allowed"},
    404: {"model": ErrorOut, "description": "not found, or not visible to the caller"},
    422: {"model": ErrorOut, "description": "invalid input; the message names the field"},
}
WRITE_ERRORS = ERRORS | {409: {"model": ErrorOut, "description": "conflicts with existing "
                               "data (duplicate key, terminal in use, history kept)"}}
UPLOAD_ERRORS = WRITE_ERRORS | {
    413: {"model": ErrorOut, "description": "file larger than the limit named in the message"},
    422: {"model": ImportRefused, "description": "bad file, or bad rows with the per-row "
          "report (nothing was written)"},
}
AdminOnly = require_roles("admin")
BIGINT_MAX = 2**63 - 1
Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int, Query(ge=0, le=BIGINT_MAX, description="rows to skip")]
# Ids in paths, queries and bodies, bounded like their columns: a wider number is a 422
# naming the field, not an out-of-range error from PostgreSQL.
BigId = Annotated[int, Interval(ge=-BIGINT_MAX - 1, le=BIGINT_MAX)]
IntId = Annotated[int, Interval(ge=-(2**31), le=2**31 - 1)]


def matching(query: SelectT, *filters: tuple[Any, Any]) -> SelectT:
    """``query`` where each column equals its value; a filter the request left out (None,
    or an empty string) narrows nothing, while ``False`` does."""
    for column, value in filters:
        if value is not None and value != "":
            query = query.where(column == value)
    return query


def found(row: Row | None, what: str) -> Row:
    """``row``, or a 404 "``what`` not found" (e.g. ``company QD-01``, as the path wrote it)."""
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def sort_help(fields: dict[str, Any], default: str) -> Any:
    return Query(default, description="sort by a field, '-' for descending; one of "
                 + ", ".join(sorted(fields)), pattern=r"^-?[a-z_]+$")


def page(session: Session, query: Select, response: Response, *, sortable: dict[str, Any],
         sort: str, limit: int, offset: int) -> list[Any]:
    """Rows of ``query`` for one page, sorted; the total goes to ``X-Total-Count``."""
    name = sort.lstrip("-")
    if name not in sortable:
        raise Invalid(f"sort: cannot sort by {name!r}; use one of {', '.join(sorted(sortable))}")
    column = sortable[name]
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    response.headers["X-Total-Count"] = str(total)
    order = column.desc() if sort.startswith("-") else column.asc()
    tie = [c for c in query.selected_columns if c.primary_key][:1]
    return list(session.execute(query.order_by(order, *tie).limit(limit).offset(offset)))


@contextmanager
def committing(session: Session) -> Iterator[None]:
    """Commit the request's writes; a constraint the checks missed becomes a 409."""
    try:
        yield
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        detail = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        raise Conflict(f"conflicts with existing data: {detail}") from exc
    except Exception:
        session.rollback()
        raise


def refuse_existing(row: object | None, message: str) -> None:
    """A POST creates: a 409 with ``message`` when the record's key is taken."""
    if row is not None:
        raise Conflict(message)


def same_key(body: str, path: str, message: str) -> None:
    """A PUT replaces the record its path names: a 422 with ``message`` when the body's
    key names another."""
    if body != path:
        raise Invalid(message)


def store(session: Session, record: Record,
          check: Callable[[Session, Sequence[Record]], list[Problem]],
          upsert: Callable[[Session, Sequence[Record]], object]) -> None:
    """One record written as an import writes its rows: ``check`` against the database
    (422, or 409 for a conflict), then ``upsert`` and commit."""
    raise_first(check(session, [record]))
    with committing(session):
        upsert(session, [record])


def removed(session: Session, remove: Callable[[Session, Row], str], row: Row) -> Removed:
    """``remove`` the row and commit: ``deleted``, or ``deactivated`` when history
    refers to it."""
    with committing(session):
        result = remove(session, row)
    return Removed(result=result)


async def read_upload(file: UploadFile, max_bytes: int) -> bytes:
    """The whole upload, refusing (413) as soon as it passes ``max_bytes``."""
    chunks, size = [], 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{file.filename or 'the file'} is larger than the limit of "
                           f"{max_bytes} bytes ({max_bytes // (1024 * 1024)} MiB)")
        chunks.append(chunk)
    return b"".join(chunks)
